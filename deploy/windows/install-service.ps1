# Installs (or, run again after an upgrade, updates) monitor-aggregator as a Windows service
# that starts at boot, and opens its port in Windows Firewall. Run in an elevated PowerShell
# from the unzipped folder:
#   powershell -ExecutionPolicy Bypass -File .\install-service.ps1 [-Config PATH] [-NoFirewall]
#   powershell -ExecutionPolicy Bypass -File .\install-service.ps1 -Uninstall
# On the first install config.yaml is made from config.example.yaml with a new admin token,
# which is printed once. Everything else is done by monitor-aggregator.exe itself
# (--check-config, --install-service, --uninstall-service), so the same steps work by hand.
#Requires -RunAsAdministrator
param(
    [string]$Config = "",
    [switch]$NoFirewall,
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$Here = Split-Path -Parent $MyInvocation.MyCommand.Path
$Exe = Join-Path $Here "monitor-aggregator.exe"
$Service = "monitor-aggregator"
$Rule = "lanmon monitor-aggregator"

function Invoke-Aggregator {
    & $Exe @args
    if ($LASTEXITCODE -ne 0) { throw "monitor-aggregator.exe $($args -join ' ') failed ($LASTEXITCODE)" }
}

if ($Uninstall) {
    Invoke-Aggregator --uninstall-service
    Get-NetFirewallRule -DisplayName $Rule -ErrorAction SilentlyContinue | Remove-NetFirewallRule
    Write-Host "Removed. The configuration, database, backups and logs in $Here are kept."
    exit 0
}

if (-not $Config) { $Config = Join-Path $Here "config.yaml" }
if (-not (Test-Path $Config)) {
    # 32 random bytes, URL-safe base64 without padding (43 characters).
    $bytes = New-Object byte[] 32
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
    $token = [Convert]::ToBase64String($bytes).TrimEnd("=").Replace("+", "-").Replace("/", "_")
    $text = [IO.File]::ReadAllText((Join-Path $Here "config.example.yaml"))
    # Written without a byte-order mark (Set-Content -Encoding UTF8 would add one).
    [IO.File]::WriteAllText($Config, $text.Replace("REPLACE_WITH_ADMIN_TOKEN", $token))
    Write-Host "Created $Config"
    Write-Host "Admin token (the dashboard asks for it to add, edit or delete servers): $token"
}
$Config = (Resolve-Path $Config).Path

Invoke-Aggregator --check-config --config $Config
$running = Get-Service -Name $Service -ErrorAction SilentlyContinue
if ($running -and $running.Status -ne "Stopped") { Stop-Service -Name $Service }
Invoke-Aggregator --install-service --config $Config
Start-Service -Name $Service

# The port from the listen line ("0.0.0.0:8080" or "[::]:8080").
$port = 8080
$listen = Select-String -Path $Config -Pattern '^\s*listen:\s*"?[^"]*:(\d+)"?' | Select-Object -First 1
if ($listen) { $port = [int]$listen.Matches[0].Groups[1].Value }
if (-not $NoFirewall -and -not (Get-NetFirewallRule -DisplayName $Rule -ErrorAction SilentlyContinue)) {
    New-NetFirewallRule -DisplayName $Rule -Direction Inbound -Protocol TCP -LocalPort $port `
        -Action Allow -Profile Domain,Private | Out-Null
    Write-Host "Opened TCP port $port in Windows Firewall (domain and private networks)."
}
Write-Host "Service '$Service' is running. Dashboard: http://localhost:$port/"
Write-Host "Log: $(Join-Path $Here 'logs\monitor-aggregator.log')"
