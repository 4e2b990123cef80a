#!/usr/bin/env bash
# Seeds the Go module cache with the go-marathon pseudo-version we pin.
#
# Why: go-marathon has no tags after v0.7.1 and no go.mod; we pin its last commit by pseudo-version
# (v0.7.2-0.20200116143022-94e7bcb625cd). The module proxy serves that version's .mod and .zip but
# answers 403 for its .info, which `go mod download` asks for first, so a fresh machine cannot resolve
# it. We fetch the two files it does serve and write the .info ourselves; go.sum still checks the zip.
set -euo pipefail
mod=github.com/gambol99/go-marathon
ver=v0.7.2-0.20200116143022-94e7bcb625cd
stamp=2020-01-16T14:30:22Z
cache=$(go env GOMODCACHE)/cache/download/$mod/@v
proxy=${GOPROXY_SEED:-https://proxy.golang.org}
if [[ -s $cache/$ver.zip && -s $cache/$ver.mod && -s $cache/$ver.info ]]; then
  exit 0
fi
mkdir -p "$cache"
curl -fsSL --retry 3 -o "$cache/$ver.mod.tmp" "$proxy/$mod/@v/$ver.mod"
curl -fsSL --retry 3 -o "$cache/$ver.zip.tmp" "$proxy/$mod/@v/$ver.zip"
mv "$cache/$ver.mod.tmp" "$cache/$ver.mod"
mv "$cache/$ver.zip.tmp" "$cache/$ver.zip"
printf '{"Version":"%s","Time":"%s"}\n' "$ver" "$stamp" >"$cache/$ver.info"
