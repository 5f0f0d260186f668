#!/usr/bin/env bash
# The metrics tests run their own Prometheus server (each on a free loopback port,
# never the system one) and check deploy/alerts.yml with promtool. Debian's
# `prometheus` package ships both binaries; installs it when either is absent.
set -euo pipefail
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
    exit 0
fi
echo "ensure-prometheus: installing prometheus" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null
