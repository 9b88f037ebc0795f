"""A small interpreter for the PowerShell the simulated guest runs as SYSTEM (Run Command).

Statements are recognised by their cmdlets, not by exact text. What SYSTEM cannot do on stock
Windows fails the way Windows PowerShell 5.1 reports it: `winget` is not on SYSTEM's PATH
(microsoft/winget-cli#1000), PSWindowsUpdate's `Install-WindowsUpdate` is not installed.
Errors stop the script only under `$ErrorActionPreference = 'Stop'` (or `throw`), with exit
code 1; `exit N` ends it with N. Effects and output are decided when the script starts; the
caller reveals them when the Run Command ends (a simplification, see docs/simulator.md). The one
exception is a script that waits for sysprep (`Start-Process ... sysprep.exe ... -Wait`): it runs
as long as sysprep does and what it reads afterwards is read when it ends.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.backends.guest import GuestState

SCRIPT_PATH = "C:\\Packages\\Plugins\\Microsoft.CPlat.Core.RunCommandWindows\\1.1.18\\Downloads\\script0.ps1"
NOT_ON_SYSTEM = ("winget", "install-windowsupdate", "get-windowsupdate", "get-wulist")
WINGET_APPX = "microsoft.desktopappinstaller_"
WINGET_FOLDER = "Microsoft.DesktopAppInstaller_1.26.430.0_x64__8wekyb3d8bbwe"


@dataclass
class ScriptResult:
    """What a script printed, its exit code, and how long it ran inside the guest."""

    stdout: str
    stderr: str
    exit_code: int = 0
    seconds: float = 0.0
    sysprep_end: datetime | None = None
    # A script that waited for sysprep (Start-Process -Wait) reports what it reads afterwards
    # (ImageState, setuperr.log) as the guest is when the command ends, not when it started.
    report_at_end: Callable[[datetime], list[str]] | None = None


def run_script(
    guest: GuestState,
    lines: list[str],
    now: datetime,
    durations: dict[str, float],
    sysprep_fault: str | None = None,
) -> ScriptResult:
    """Execute a PowerShell script body as SYSTEM on ``guest`` and return what it printed."""
    guest.refresh(now)
    return Interpreter(guest, now, durations, sysprep_fault).run("\n".join(lines))


class _Stop(Exception):
    """The script ended (throw, exit N, or an error under ErrorActionPreference Stop)."""

    def __init__(self, code: int) -> None:
        self.code = code


class Interpreter:
    def __init__(self, guest: GuestState, now: datetime, durations: dict[str, float], fault: str | None) -> None:
        self.guest = guest
        self.now = now
        self.durations = durations
        self.fault = fault
        self.out: list[str] = []
        self.err: list[str] = []
        self.stop_on_error = False
        self.last_exit = 0
        self.winget: str | None = None
        self.seconds = 0.0
        self.sysprep_end: datetime | None = None
        self.waits_for_sysprep = False
        self.update_report: dict[str, Any] | None = None

    def run(self, script: str) -> ScriptResult:
        code = 0
        try:
            for lineno, statement in logical_lines(script):
                self.statement(statement.strip(), lineno)
            if self.update_report is not None:
                self.out.append(json.dumps(self.update_report, separators=(",", ":")))
            if not self.waits_for_sysprep:
                self.out.extend(self.guest.query_output(script))
        except _Stop as stop:
            code = stop.code
        stdout = "\n".join(o for o in self.out if o)
        later = self._read_at_end(script) if self.waits_for_sysprep and code == 0 else None
        return ScriptResult(stdout, "\n".join(self.err), code, self.seconds, self.sysprep_end, later)

    def _read_at_end(self, script: str) -> Callable[[datetime], list[str]]:
        guest = self.guest

        def read(now: datetime) -> list[str]:
            guest.refresh(now)
            return guest.query_output(script)

        return read

    # -- statements ----------------------------------------------------------------------------
    def statement(self, stmt: str, lineno: int) -> None:
        low = stmt.lower()
        if not stmt or stmt.startswith("#"):
            return
        if re.match(r"\$erroractionpreference\s*=\s*['\"]stop['\"]", low):
            self.stop_on_error = True
            return
        if low.startswith("if") and self._conditional(stmt, lineno):
            return
        if m := re.match(r"throw\s+(.*)$", stmt, re.IGNORECASE):
            msg = _unquote(m.group(1).strip())
            self.err.append(_throw_text(msg, lineno, stmt))
            raise _Stop(1)
        if m := re.match(r"exit\s+(-?\d+)", stmt, re.IGNORECASE):
            raise _Stop(int(m.group(1)))
        if re.match(r"\$winget\s*=", low) and WINGET_APPX in low:
            self._resolve_winget(stmt, lineno)
            return
        if low.startswith("&") and ("$winget" in low or "winget.exe" in low):
            self._winget(stmt, lineno)
            return
        first = low.split()[0] if low.split() else ""
        if first in NOT_ON_SYSTEM:
            name = stmt.split()[0]
            self._error(
                name,
                f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
                "program. Check the spelling of the name, or if a path was included, verify that the path is "
                "correct and try again.",
                lineno,
                stmt,
                f"ObjectNotFound: ({name}:String) [], CommandNotFoundException",
                "CommandNotFoundException",
            )
            return
        if first == "new-item" and "hklm" in low:
            self._new_item(stmt, lineno)
        elif first in ("set-itemproperty", "new-itemproperty"):
            self._set_item_property(stmt, lineno)
        elif low.startswith(("reg add", "reg.exe add")):
            self._reg_add(stmt)
        elif "disable-bitlocker" in low:
            self.guest.disable_bitlocker(self.now, self.durations)
        elif "sysprep.exe" in low:
            self.sysprep_end = self.guest.start_sysprep(stmt, self.now, self.durations, self.fault)
            if self.sysprep_end is not None and re.search(r"(^|\s)-wait\b", low):
                # Start-Process -Wait: the script goes on when sysprep.exe exits (with /quit, once it
                # resealed or failed), so the command runs as long as sysprep does.
                self.waits_for_sysprep = True
                self.seconds += (self.sysprep_end - self.now).total_seconds()
        elif "microsoft.update.session" in low and self.update_report is None:
            self.update_report, seconds = self.guest.windows_update_pass(self.now, self.durations)
            self.seconds += seconds
        elif m := re.match(r"(?:write-output|write-host|echo)\s+(.*)$", stmt, re.IGNORECASE):
            self.out.append(_unquote(m.group(1).strip()))

    def _conditional(self, stmt: str, lineno: int) -> bool:
        """`if (-not (Test-Path ...)) { ... }` and `if ($LASTEXITCODE -ne 0) { ... }`; False if neither."""
        m = re.match(
            r"if\s*\(\s*(?:-not\s*|!\s*)\(\s*Test-Path\s+(?:-(?:Literal)?Path\s+)?(['\"])(.+?)\1\s*\)\s*\)\s*\{(.*)\}\s*$",
            stmt,
            re.IGNORECASE,
        )
        if m:
            path, body = m.group(2), m.group(3)
            missing = not self.guest.reg.has_key(path) if path.upper().startswith("HKLM") else True
            if missing:
                for _, inner in logical_lines(body):
                    self.statement(inner.strip(), lineno)
            return True
        m = re.match(r"if\s*\(\s*\$LASTEXITCODE\s+-(ne|notin)\s+([0-9, ]+)\)\s*\{(.*)\}\s*$", stmt, re.IGNORECASE)
        if m:
            allowed = {int(x) for x in m.group(2).replace(" ", "").split(",") if x}
            if self.last_exit not in allowed:
                for _, inner in logical_lines(m.group(3)):
                    self.statement(inner.strip(), lineno)
            return True
        return False

    def _error(self, command: str, message: str, lineno: int, line: str, category: str, error_id: str) -> None:
        marker = "~" * min(len(line.split()[0]) if line.split() else 1, 60)
        self.err.append(
            f"{command} : {message}\nAt {SCRIPT_PATH}:{lineno} char:1\n+ {line}\n+ {marker}\n"
            f"    + CategoryInfo          : {category}\n    + FullyQualifiedErrorId : {error_id}"
        )
        if self.stop_on_error:
            raise _Stop(1)

    # -- effects -------------------------------------------------------------------------------
    def _resolve_winget(self, stmt: str, lineno: int) -> None:
        """App Installer (winget) is provisioned on Windows 11, not on Windows Server."""
        if self.guest.build >= 22000:
            self.winget = "C:\\Program Files\\WindowsApps\\" + WINGET_FOLDER + "\\winget.exe"
            return
        path = "C:\\Program Files\\WindowsApps\\Microsoft.DesktopAppInstaller_*_x64__8wekyb3d8bbwe\\winget.exe"
        self._error(
            "Resolve-Path",
            f"Cannot find path '{path}' because it does not exist.",
            lineno,
            stmt,
            f"ObjectNotFound: ({path}:String) [Resolve-Path], ItemNotFoundException",
            "PathNotFound,Microsoft.PowerShell.Commands.ResolvePathCommand",
        )

    def _winget(self, stmt: str, lineno: int) -> None:
        if "$winget" in stmt.lower() and self.winget is None:
            self._error(
                "&",
                "The expression after '&' in a pipeline element produced an object that was not valid. It must "
                "result in a command name, a script block, or a CommandInfo object.",
                lineno,
                stmt,
                "InvalidOperation: (:) [], RuntimeException",
                "BadExpression",
            )
            return
        args = _split(stmt)
        verb = next((a.lower() for a in args[2:] if not a.startswith("-")), "")
        if verb != "install":
            self.last_exit = 0
            return
        opts = _options(args)
        app_id = opts.get("id") or "unknown"
        version = opts.get("version", "1.0.0")
        self.guest.install_app(app_id, version, opts.get("scope", "machine").lower())
        self.seconds += self.durations["app_install"]
        self.last_exit = 0
        self.out.append(f"Found {app_id} [{app_id}] Version {version}\nSuccessfully installed")

    def _new_item(self, stmt: str, lineno: int) -> None:
        opts = _options(_split(stmt))
        path = opts.get("path") or next((a for a in _split(stmt)[1:] if not a.startswith("-")), "")
        error = self.guest.reg.new_item(path, force="force" in opts)
        if error:
            self._error(
                "New-Item",
                error,
                lineno,
                stmt,
                f"ResourceExists: ({path}:String) [New-Item], IOException",
                "System.IO.IOException,Microsoft.PowerShell.Commands.NewItemCommand",
            )

    def _set_item_property(self, stmt: str, lineno: int) -> None:
        args = _split(stmt)
        opts = _options(args)
        path, name, value = opts.get("path"), opts.get("name"), opts.get("value")
        if not (path and name and value is not None) or not path.upper().startswith("HKLM"):
            return
        error = self.guest.reg.set_value(path, name, value)
        if error:
            cmdlet = args[0]
            self._error(
                cmdlet,
                error,
                lineno,
                stmt,
                f"ObjectNotFound: ({path}:String) [{cmdlet}], ItemNotFoundException",
                f"PathNotFound,Microsoft.PowerShell.Commands.{cmdlet.replace('-', '')}Command",
            )

    def _reg_add(self, stmt: str) -> None:
        args = _split(stmt)
        if len(args) < 3:
            return
        name = value = None
        for i, a in enumerate(args):
            if a.lower() == "/v" and i + 1 < len(args):
                name = args[i + 1]
            if a.lower() == "/d" and i + 1 < len(args):
                value = args[i + 1]
        self.guest.reg.create_key(args[2])
        if name and value is not None:
            self.guest.reg.set_value(args[2], name, value)


def estimate_seconds(lines: list[str], durations: dict[str, float]) -> float:
    """How long a script runs in the guest, from what it does (installs, Windows Update)."""
    low = "\n".join(lines).lower()
    installs = len(re.findall(r"^\s*&.*winget.*\binstall\b", low, re.MULTILINE))
    updates = durations["windows_update_install"] if "microsoft.update.session" in low else 0.0
    return installs * durations["app_install"] + updates


# -- parsing helpers --------------------------------------------------------------------------


def logical_lines(script: str) -> list[tuple[int, str]]:
    """Split a script into statements (newlines and ``;`` outside quotes and braces), with line numbers."""
    result: list[tuple[int, str]] = []
    for lineno, raw in enumerate(script.splitlines(), start=1):
        parts: list[str] = []
        buf: list[str] = []
        quote: str | None = None
        depth = 0
        for ch in raw:
            if quote:
                buf.append(ch)
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
                buf.append(ch)
            elif ch == ";" and depth == 0:
                parts.append("".join(buf))
                buf = []
            else:
                depth += {"{": 1, "}": -1}.get(ch, 0)
                buf.append(ch)
        parts.append("".join(buf))
        result.extend((lineno, p) for p in parts if p.strip())
    return result


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError:
        return line.split()


def _options(args: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1:
            key = a.lstrip("-").lower()
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                opts[key] = args[i + 1]
                i += 2
                continue
            opts[key] = "true"
        i += 1
    return opts


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _throw_text(msg: str, lineno: int, line: str) -> str:
    return (
        f"{msg}\nAt {SCRIPT_PATH}:{lineno} char:1\n+ {line}\n+ {'~' * min(len(line), 60)}\n"
        f"    + CategoryInfo          : OperationStopped: ({msg}:String) [], RuntimeException\n"
        f"    + FullyQualifiedErrorId : {msg}"
    )
