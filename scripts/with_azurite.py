"""Run one command with a private Azurite table endpoint on a free loopback port.

Used by `make test` (in memory) and `make demo` (`--location .demo/azurite`: the tables stay
on disk for `avdimage --demo` and `make ui`): starts Azurite, waits until it answers, exports
the connection string, runs the command, stops Azurite whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localrun.azurite import AzuriteMissing, azurite, connection_string

__all__ = ["connection_string", "main"]  # connection_string: tests import it from here

USAGE = "usage: with_azurite.py [--location DIR] -- COMMAND [ARGS...]"


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print(USAGE, file=sys.stderr)
        return 2
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    location: Path | None = None
    if options[:1] == ["--location"] and len(options) == 2:
        location = Path(options[1])
    elif options:
        print(f"with_azurite: unknown options {' '.join(options)}; {USAGE}", file=sys.stderr)
        return 2
    try:
        with azurite(location) as (port, connection):
            env = dict(os.environ, AVD_TABLES_CONNECTION_STRING=connection, AZURITE_TABLE_PORT=str(port))
            return subprocess.call(command, env=env)  # noqa: S603 - the caller's own command
    except (AzuriteMissing, RuntimeError) as error:
        print(f"with_azurite: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
