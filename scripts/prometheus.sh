#!/usr/bin/env bash
# Runs a Prometheus on loopback that scrapes Marmot's daemons, from the Debian package `prometheus`:
# for looking at the Grafana dashboards' queries against `make demo` or a local run. Nothing is read
# from or written to /etc/prometheus or /var/lib/prometheus.
#
#   scripts/prometheus.sh check                        exit 0 if prometheus is installed, 3 if not
#   scripts/prometheus.sh start DIR PORT TARGET...     scrape each TARGET (host:port serving /metrics)
#                                                      every 5 s, serve on 127.0.0.1:PORT, keep the data
#                                                      in DIR; returns once it is ready
#   scripts/prometheus.sh stop DIR                     stop the server started in DIR
#
# Example, with the addresses `simulate demo` prints:
#   scripts/prometheus.sh start /tmp/prom 9099 127.0.0.1:41234 127.0.0.1:41235
#   curl -s 'http://127.0.0.1:9099/api/v1/query?query=sum(marmot_hibernator_apps)%20by%20(state)'
#
# Environment: PROMETHEUS (default: prometheus on PATH), PROM_SCRAPE_INTERVAL (default 5s).
set -euo pipefail

prom=${PROMETHEUS:-prometheus}

usage() {
  echo "usage: $0 check | start DIR PORT TARGET... | stop DIR" >&2
  exit 2
}

alive() {
  [[ -s $1/prometheus.pid ]] && kill -0 "$(cat "$1/prometheus.pid")" 2>/dev/null
}

start() {
  local dir=$1 port=$2
  shift 2
  [[ $port =~ ^[0-9]+$ && $# -gt 0 ]] || usage
  command -v "$prom" >/dev/null || { echo "prometheus.sh: not installed (apt-get install prometheus)" >&2; exit 3; }
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if alive "$dir"; then
    echo "prometheus.sh: already running in $dir (pid $(cat "$dir/prometheus.pid"))" >&2
    exit 1
  fi
  local targets
  targets=$(printf '"%s", ' "$@")
  cat >"$dir/prometheus.yml" <<EOF
global: {scrape_interval: ${PROM_SCRAPE_INTERVAL:-5s}, evaluation_interval: ${PROM_SCRAPE_INTERVAL:-5s}}
scrape_configs:
  - job_name: marmot
    static_configs: [{targets: [${targets%, }]}]
EOF
  "$prom" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/prometheus.pid"
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      echo "prometheus on http://127.0.0.1:$port (data and log in $dir)"
      return 0
    fi
    alive "$dir" || break
    sleep 0.5
  done
  echo "prometheus.sh: not ready; the log ends with:" >&2
  tail -20 "$dir/prometheus.log" >&2
  exit 1
}

stop() {
  local dir=$1
  alive "$dir" || return 0
  local pid
  pid=$(cat "$dir/prometheus.pid")
  kill "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/prometheus.pid"; return 0; }
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/prometheus.pid"
}

case ${1:-} in
  check) command -v "$prom" >/dev/null || exit 3 ;;
  start) [[ $# -ge 4 ]] || usage; shift; start "$@" ;;
  stop) [[ $# -eq 2 ]] || usage; stop "$2" ;;
  *) usage ;;
esac
