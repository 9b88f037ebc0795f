"""Run one command with private Azurite table and blob endpoints on free loopback ports.

Used by `make test` (in memory) and `make demo` (`--location .demo/azurite`: the tables stay
on disk for `avdimage --demo` and `make ui`): starts Azurite, waits until it answers, exports
the connection strings (AVD_TABLES_CONNECTION_STRING, AVD_BLOBS_CONNECTION_STRING: managed Run
Command output goes to append blobs), runs the command, stops Azurite whatever happens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localrun.azurite import AzuriteMissing, azurite, azurite_blob, connection_string

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
        blobs = location / "blobs" if location is not None else None
        with azurite(location) as (port, connection), azurite_blob(blobs) as (blob_port, blob_connection):
            env = dict(
                os.environ,
                AVD_TABLES_CONNECTION_STRING=connection,
                AZURITE_TABLE_PORT=str(port),
                AVD_BLOBS_CONNECTION_STRING=blob_connection,
                AZURITE_BLOB_PORT=str(blob_port),
            )
            return subprocess.call(command, env=env)  # noqa: S603 - the caller's own command
    except (AzuriteMissing, RuntimeError) as error:
        print(f"with_azurite: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
