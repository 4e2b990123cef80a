#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests run for real, when they are missing:
#   haproxy, nginx-light   load balancers in front of the hibernator's activator
#   zookeeper              leader election between daemon replicas (pulls in a JRE)
#   prometheus             scrapes both daemons; every dashboard query must return data
#   chromium               renders the built-in dashboard page headless
# The tests start each of these themselves on loopback ports; services the packages would start on
# install are refused (policy-rc.d), so nothing listens on the machine's default ports.
set -euo pipefail
packages=(curl ca-certificates haproxy nginx-light zookeeper prometheus chromium fonts-liberation)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
added_policy=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  added_policy=1
fi
trap '[[ -n $added_policy ]] && rm -f "$policy"' EXIT
echo "install-test-deps: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
