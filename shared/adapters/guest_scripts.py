"""PowerShell the product sends to Windows VMs with Run Command; it runs as SYSTEM.

Each script prints one JSON document last on stdout, so results are parsed without scraping
text. Which kind of Run Command carries a script is decided by its output: action Run Command
keeps only the last 4,096 bytes and reports no exit code, so it carries only scripts whose
output is provably small (BitLocker status, sysprep start/status); the inventory (hundreds of
apps on a real AVD image), customizations and Windows Update go through managed Run Commands,
whose full output lands in append blobs and whose exit code is reported. The simulator's
Windows guest answers these same scripts; docs/simulator.md lists the contract.
"""

from __future__ import annotations

# Inventory: OS build, hotfixes, machine-wide installed software, key registry values, and the
# OS volume's BitLocker state (one Run Command instead of two: ARM requests are the budget).
# Output: {"osBuild": "26100.2605", "osDisplayVersion": "24H2", "hotfixes": ["KB5046617"],
#          "apps": [{"name": "...", "version": "..."}], "registry": {"HKLM:\\...\\Name": "value"},
#          "bitlocker": {"volumeStatus": "FullyDecrypted", "encryptionPercentage": 0}}
INVENTORY = r"""
$ErrorActionPreference = 'Stop'
$cv = Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$hotfixes = @(Get-HotFix | Sort-Object HotFixID | ForEach-Object { $_.HotFixID })
$uninstall = @('HKLM:\Software\Microsoft\Windows\CurrentVersion\Uninstall\*',
               'HKLM:\Software\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\*')
$apps = @(Get-ItemProperty -Path $uninstall -ErrorAction SilentlyContinue |
  Where-Object { $_.DisplayName } | Sort-Object DisplayName |
  ForEach-Object { [pscustomobject]@{ name = $_.DisplayName; version = "$($_.DisplayVersion)" } })
$keys = @{
  'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker\PreventDeviceEncryption' = $null
  'HKLM:\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services\fEnableTimeZoneRedirection' = $null
  'HKLM:\SOFTWARE\FSLogix\Profiles\Enabled' = $null
}
$registry = @{}
foreach ($k in @($keys.Keys)) {
  $path = Split-Path -Path $k -Parent; $name = Split-Path -Path $k -Leaf
  $v = Get-ItemProperty -Path $path -Name $name -ErrorAction SilentlyContinue
  if ($v) { $registry[$k] = "$($v.$name)" }
}
$bl = Get-BitLockerVolume -MountPoint 'C:'
[pscustomobject]@{
  osBuild = "$($cv.CurrentBuild).$($cv.UBR)"; osDisplayVersion = "$($cv.DisplayVersion)"
  hotfixes = $hotfixes; apps = $apps; registry = $registry
  bitlocker = [pscustomobject]@{ volumeStatus = "$($bl.VolumeStatus)"; encryptionPercentage = [int]$bl.EncryptionPercentage }
} | ConvertTo-Json -Depth 4 -Compress
"""

# BitLocker state of the OS volume.
# Output: {"mountPoint": "C:", "volumeStatus": "FullyEncrypted", "encryptionPercentage": 100,
#          "protectionStatus": "On", "keyProtectors": ["Tpm"]}
BITLOCKER_STATUS = r"""
$ErrorActionPreference = 'Stop'
$v = Get-BitLockerVolume -MountPoint 'C:'
[pscustomobject]@{
  mountPoint = "$($v.MountPoint)"; volumeStatus = "$($v.VolumeStatus)"
  encryptionPercentage = [int]$v.EncryptionPercentage; protectionStatus = "$($v.ProtectionStatus)"
  keyProtectors = @($v.KeyProtector | ForEach-Object { "$($_.KeyProtectorType)" })
} | ConvertTo-Json -Compress
"""

# Start decryption (returns at once; decryption continues in the background) and stop
# deployed hosts from re-encrypting themselves; report the state right after.
# Output: {"started": true, "volumeStatus": "DecryptionInProgress", "encryptionPercentage": 100}
# The key is created only when missing: `New-Item -Force` on an existing registry key deletes and
# recreates it empty, losing every value already under it.
BITLOCKER_OFF = r"""
$ErrorActionPreference = 'Stop'
if (-not (Test-Path -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker')) { New-Item -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker' | Out-Null }
Set-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker' -Name 'PreventDeviceEncryption' -Value 1 -Type DWord
$v = Get-BitLockerVolume -MountPoint 'C:'
if ("$($v.VolumeStatus)" -ne 'FullyDecrypted') { Disable-BitLocker -MountPoint 'C:' | Out-Null }
$v = Get-BitLockerVolume -MountPoint 'C:'
[pscustomobject]@{
  started = $true; volumeStatus = "$($v.VolumeStatus)"; encryptionPercentage = [int]$v.EncryptionPercentage
} | ConvertTo-Json -Compress
"""

# Sysprep inside a managed Run Command that returns when sysprep has: /quit (not /shutdown) keeps
# the VM and its agent up, so the command ends with a result and its PUT completes (the completion
# event continues the run). Start-Process -Wait waits for sysprep.exe to exit; ImageState then says
# whether it resealed (IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE, the check Packer's azure-arm and
# Azure Image Builder make), and setuperr.log says why not: at most the last 8 error lines of at
# most 300 characters each, so the JSON stays far below the instance view's 4 KB output.
# Output: {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": false,
#          "errors": ["2026-11-25 10:00:00, Error SYSPRP ..."]}
SYSPREP = r"""
$ErrorActionPreference = 'Stop'
Start-Process -FilePath "$env:WINDIR\System32\Sysprep\sysprep.exe" -ArgumentList '/generalize','/oobe','/quit','/mode:vm' -Wait
$state = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State').ImageState
$running = [bool](Get-Process -Name sysprep -ErrorAction SilentlyContinue)
$log = "$env:WINDIR\System32\Sysprep\Panther\setuperr.log"
$errors = @()
if (Test-Path $log) {
  $errors = @(Get-Content -Path $log | Where-Object { $_ -match 'Error' } | Select-Object -Last 8 |
    ForEach-Object { $_.Substring(0, [Math]::Min(300, $_.Length)) })
}
[pscustomobject]@{ imageState = "$state"; sysprepRunning = $running; errors = $errors } | ConvertTo-Json -Compress
"""
RESEALED = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"

# One Windows Update pass with the Windows Update Agent API that ships with Windows
# (Microsoft.Update.Session; Microsoft Learn "Searching, Downloading, and Installing Updates").
# No module download, works as SYSTEM. The product restarts the VM when a restart is required
# and runs the pass again until nothing is found.
# Output: {"found": 1, "installed": [{"kb": "KB5068861", "title": "..."}], "rebootRequired": true,
#          "resultCode": 2}
WINDOWS_UPDATE = r"""
$ErrorActionPreference = 'Stop'
$session = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$found = @($searcher.Search("IsInstalled=0 and Type='Software' and IsHidden=0").Updates)
$pending = (New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
$installed = @(); $code = 0
if ($found.Count -gt 0 -and -not $pending) {
  $todo = New-Object -ComObject Microsoft.Update.UpdateColl
  foreach ($u in $found) { if (-not $u.EulaAccepted) { $u.AcceptEula() }; [void]$todo.Add($u) }
  $downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $todo; [void]$downloader.Download()
  $installer = $session.CreateUpdateInstaller(); $installer.Updates = $todo
  $result = $installer.Install(); $code = [int]$result.ResultCode; $pending = $result.RebootRequired
  $installed = @($found | ForEach-Object { [pscustomobject]@{ kb = "KB$($_.KBArticleIDs | Select-Object -First 1)"; title = $_.Title } })
}
[pscustomobject]@{ found = $found.Count; installed = $installed; rebootRequired = [bool]$pending; resultCode = $code } | ConvertTo-Json -Depth 3 -Compress
if ($code -gt 3) { exit $code }
"""

# How a catalog customization installs an app as SYSTEM: winget is not on SYSTEM's PATH, so the
# App Installer's winget.exe is resolved under Program Files\\WindowsApps (provisioned on Windows 11,
# absent on Windows Server). Caveats (docs/customizations.md): machine scope only, agreements
# accepted on the command line, the newest App Installer folder wins, check $LASTEXITCODE.
WINGET_RESOLVE = (
    "$winget = (Resolve-Path -Path "
    '"$env:ProgramFiles\\WindowsApps\\Microsoft.DesktopAppInstaller_*_x64__8wekyb3d8bbwe\\winget.exe" | '
    "Select-Object -Last 1).Path"
)
