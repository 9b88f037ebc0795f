#!/bin/sh
# azd predeploy hook: refuse to deploy a catalog with mistakes. The running app would disable an
# invalid workload file (the others keep running), but a deploy is the moment to stop it.
# Uses the CLI `make` installs into .venv, else `avdimage` on PATH, else the sources.
set -eu
if [ -x .venv/bin/avdimage ]; then
  exec .venv/bin/avdimage validate-catalog catalog
elif command -v avdimage >/dev/null 2>&1; then
  exec avdimage validate-catalog catalog
fi
exec python3 -c "from shared.cli import main; main()" validate-catalog catalog
