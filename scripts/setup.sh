#!/usr/bin/env bash
# Installs what building and testing need on a Debian machine (run as root, or with sudo available).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
pkgs="libyajl-dev libcurl4-openssl-dev libssl-dev zlib1g-dev"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "==> apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ "${1:-}" = "--test" ]; then
  # The status page test drives headless Chromium.
  if ! command -v chromium >/dev/null 2>&1; then
    echo "==> apt-get install chromium"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  echo "==> pip install test dependencies"
  python3 -m pip install -q --disable-pip-version-check 'moto[server]==5.2.1' pytest boto3 numpy 'scikit-learn==1.7.2' jsonschema
fi
