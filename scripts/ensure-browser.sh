#!/usr/bin/env bash
# The browser tests open the HTML page in headless Chromium (Debian's `chromium`,
# with `fonts-liberation` for its text). Installs both when absent.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
echo "ensure-browser: installing chromium and fonts-liberation" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-liberation >/dev/null
command -v chromium >/dev/null
