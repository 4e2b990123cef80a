#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests run for real, when they are missing.
# The list grows with the tests that need them (haproxy, nginx, zookeeper, prometheus, chromium).
set -euo pipefail
packages=(curl ca-certificates haproxy nginx-light)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
