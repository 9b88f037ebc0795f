"""Every built-in role GUID in infra/ is the id Microsoft publishes for the role it claims to be.

A wrong GUID is not caught by Bicep, pycep or checkov; ARM refuses the role assignment at
`azd up` time (RoleDefinitionDoesNotExist). The table in builtin_roles.json is re-typed from
Microsoft Learn's "Azure built-in roles" pages, each row with its page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TABLE = json.loads(Path(__file__).with_name("builtin_roles.json").read_text(encoding="utf-8"))["roles"]
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# `var fooRoleId = '<guid>' // <built-in role name>`: the comment names the role the GUID must be.
ROLE_VAR = re.compile(rf"^var (?P<var>\w+RoleId) = '(?P<guid>{GUID.pattern})'\s*//\s*(?P<role>.+?)\s*$")


def role_declarations() -> list[tuple[str, str, str, str]]:
    """(file, variable, guid, role name) of every built-in role id declared in infra/."""
    found: list[tuple[str, str, str, str]] = []
    for path in sorted(INFRA.rglob("*.bicep")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if match := ROLE_VAR.match(line.strip()):
                found.append((path.relative_to(REPO).as_posix(), match["var"], match["guid"], match["role"]))
    return found


def test_every_builtin_role_guid_matches_microsofts_table() -> None:
    """Each role id variable names its built-in role, and its GUID is the one Microsoft Learn lists for it."""
    declarations = role_declarations()
    assert declarations, "no `var xRoleId = '<guid>' // <role name>` found in infra/"
    wrong = [
        f"{file}: {var} = {guid} claims {role!r}, which is "
        + (f"{TABLE[role]['id']} ({TABLE[role]['source']})" if role in TABLE else "not in builtin_roles.json")
        for file, var, guid, role in declarations
        if role not in TABLE or TABLE[role]["id"] != guid.lower()
    ]
    assert wrong == []


def test_no_guid_in_infra_escapes_the_check() -> None:
    """Every GUID literal under infra/ is a declared, commented role id, so none bypasses the table."""
    declared = {guid.lower() for _, _, guid, _ in role_declarations()}
    stray = [
        f"{path.relative_to(REPO).as_posix()}:{number}: {line.strip()}"
        for path in sorted(INFRA.rglob("*"))
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for guid in GUID.findall(line)
        if guid.lower() not in declared or not ROLE_VAR.match(line.strip())
    ]
    assert stray == []


def test_every_declared_role_id_is_used_as_a_role_definition() -> None:
    """Each role id variable is used in subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ...)."""
    unused = []
    for file, var, _, _ in role_declarations():
        text = (REPO / file).read_text(encoding="utf-8")
        if f"subscriptionResourceId('Microsoft.Authorization/roleDefinitions', {var})" not in text:
            unused.append(f"{file}: {var}")
    assert unused == []


def test_the_table_cites_a_source_for_every_role() -> None:
    """Every row of builtin_roles.json is a lower-case GUID with the Learn page it comes from."""
    for name, row in TABLE.items():
        assert GUID.fullmatch(row["id"]), name
        assert row["id"] == row["id"].lower(), name
        assert "built-in-roles" in row["source"], name
        assert "Azure built-in roles" in row["source"], name
