"""The simulated guest's registry: keys that exist, and the values under them.

Modelled on the PowerShell registry provider (Microsoft Learn, "New-Item" for the registry
provider and "about_Registry_Provider"): `New-Item -Force` on an existing key deletes and
recreates it empty; `New-Item` without `-Force` on an existing key is an error;
`Set-ItemProperty` on a missing key is an error; `reg add` creates missing keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Keys a stock Windows 11 image has (the BitLocker control key exists before anyone sets a value).
STOCK_KEYS = (
    "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
    "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Setup\\State",
    "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\BitLocker",
    "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows NT",
)


def canonical_key(key: str) -> str:
    """``HKLM\\X``, ``HKEY_LOCAL_MACHINE\\X`` and ``Registry::HKEY_LOCAL_MACHINE\\X`` are ``HKLM:\\X``."""
    k = key.strip().strip("'\"").rstrip("\\")
    for prefix in ("Registry::HKEY_LOCAL_MACHINE\\", "HKEY_LOCAL_MACHINE\\", "HKLM\\", "HKLM:\\"):
        if k.upper().startswith(prefix.upper()):
            return "HKLM:\\" + k[len(prefix) :]
    return k


@dataclass
class Registry:
    keys: dict[str, str] = field(default_factory=dict)  # lower key -> key as first written
    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower key\name -> (key\name, value)

    @classmethod
    def stock(cls) -> Registry:
        registry = cls()
        for key in STOCK_KEYS:
            registry.create_key(key)
        return registry

    def has_key(self, key: str) -> bool:
        return canonical_key(key).lower() in self.keys

    def create_key(self, key: str) -> None:
        """Create a key and its missing parents (what `reg add` and `New-Item -Force` do)."""
        parts = canonical_key(key).split("\\")
        for i in range(1, len(parts) + 1):
            path = "\\".join(parts[:i])
            self.keys.setdefault(path.lower(), path)

    def new_item(self, key: str, *, force: bool) -> str | None:
        """`New-Item -Path key [-Force]`; returns PowerShell's error message, or None."""
        canonical = canonical_key(key)
        low = canonical.lower()
        if low in self.keys:
            if not force:
                return "A key at this path already exists."
            self._delete_tree(low)
        self.create_key(canonical)
        return None

    def _delete_tree(self, low: str) -> None:
        for k in [k for k in self.keys if k == low or k.startswith(low + "\\")]:
            del self.keys[k]
        for v in [v for v in self.values if v.rsplit("\\", 1)[0] == low or v.startswith(low + "\\")]:
            del self.values[v]

    def set_value(self, key: str, name: str, value: str, *, create_key: bool = False) -> str | None:
        """Set a value; without ``create_key`` a missing key is PowerShell's ItemNotFound error."""
        canonical = canonical_key(key)
        if canonical.lower() not in self.keys:
            if not create_key:
                return f"Cannot find path '{canonical}' because it does not exist."
            self.create_key(canonical)
        path = f"{canonical}\\{name}"
        self.values[path.lower()] = (path, value)
        return None

    def value(self, path: str) -> str | None:
        entry = self.values.get(canonical_key(path).lower())
        return entry[1] if entry else None
