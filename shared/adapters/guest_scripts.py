"""PowerShell the product sends to Windows VMs with Run Command (RunPowerShellScript).

Each script prints exactly one compact JSON document on stdout, so the compute adapter
can parse results without scraping text. The simulator's Windows guest answers these
same scripts; docs/simulator.md lists the contract.
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
BITLOCKER_OFF = r"""
$ErrorActionPreference = 'Stop'
New-Item -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker' -Force | Out-Null
Set-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\BitLocker' -Name 'PreventDeviceEncryption' -Value 1 -Type DWord
$v = Get-BitLockerVolume -MountPoint 'C:'
if ("$($v.VolumeStatus)" -ne 'FullyDecrypted') { Disable-BitLocker -MountPoint 'C:' | Out-Null }
$v = Get-BitLockerVolume -MountPoint 'C:'
[pscustomobject]@{
  started = $true; volumeStatus = "$($v.VolumeStatus)"; encryptionPercentage = [int]$v.EncryptionPercentage
} | ConvertTo-Json -Compress
"""

# Start sysprep without waiting for it. /shutdown: the VM stops when sysprep succeeds, so
# completion shows in the VM's power state (one ARM read) rather than a Run Command per check;
# a failed sysprep leaves the VM running and SYSPREP_STATUS reports why.
# Output: {"started": true}
SYSPREP_START = r"""
$ErrorActionPreference = 'Stop'
Start-Process -FilePath "$env:WINDIR\System32\Sysprep\sysprep.exe" -ArgumentList '/generalize','/oobe','/shutdown','/mode:vm'
[pscustomobject]@{ started = $true } | ConvertTo-Json -Compress
"""

# Sysprep progress and, on failure, the log lines that explain it.
# Output: {"imageState": "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", "sysprepRunning": false,
#          "errors": ["2026-11-25 10:00:00, Error SYSPRP ..."]}
SYSPREP_STATUS = r"""
$ErrorActionPreference = 'Stop'
$state = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State').ImageState
$running = [bool](Get-Process -Name sysprep -ErrorAction SilentlyContinue)
$log = "$env:WINDIR\System32\Sysprep\Panther\setuperr.log"
$errors = @()
if (Test-Path $log) { $errors = @(Get-Content -Path $log | Where-Object { $_ -match 'Error' }) }
[pscustomobject]@{ imageState = "$state"; sysprepRunning = $running; errors = $errors } | ConvertTo-Json -Compress
"""
