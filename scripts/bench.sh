#!/usr/bin/env bash
# Runs the benchmarks whose figures docs/PERFORMANCE.md reports, with the same commands.
# The machine is shared: read the cpu-ms/op columns where a benchmark reports them.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "== $*" >&2; "$@"; }
run go test -run '^$' -bench ThirtyDays -benchtime 1x -benchmem ./simulate/
run go test -run '^$' -bench GetState -benchmem -benchtime 20x -count 3 ./simulate/mesosapi/
run go test -run '^$' -bench PlanPool -benchmem ./policy/
run go test -run '^$' -bench QueueToSetDesiredCapacity -benchtime 60x ./cmd/autoscaler/
run go test -run XXX -bench BenchmarkActivatorWarm -benchtime 20000x -count 3 ./hibernator/
run go test -run XXX -bench BenchmarkWakeOverhead -benchtime 200x ./hibernator/
run go test -run '^$' -bench . -benchtime 1x ./simulate/whatif/
