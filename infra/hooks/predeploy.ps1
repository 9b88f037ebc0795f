# azd predeploy hook: refuse to deploy a catalog with mistakes (see predeploy.sh).
$ErrorActionPreference = 'Stop'
if (Test-Path .venv/Scripts/avdimage.exe) {
  .venv/Scripts/avdimage.exe validate-catalog catalog
} elseif (Get-Command avdimage -ErrorAction SilentlyContinue) {
  avdimage validate-catalog catalog
} else {
  python -c "from shared.cli import main; main()" validate-catalog catalog
}
exit $LASTEXITCODE
