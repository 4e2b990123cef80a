#!/usr/bin/env bash
# Runs a standalone ZooKeeper on loopback for tests and local runs, from the Debian package `zookeeper`
# (its jar, and the JRE it depends on). Nothing is read from or written to /etc/zookeeper or /var/lib.
#
#   scripts/zookeeper.sh check              exit 0 if ZooKeeper and java are installed, 3 if not
#   scripts/zookeeper.sh start DIR PORT     start on 127.0.0.1:PORT with its data in DIR; returns once it
#                                           serves requests (exit 1 and the log tail if it does not)
#   scripts/zookeeper.sh stop DIR           stop the server started in DIR (SIGTERM, then SIGKILL); the data
#                                           stays, so a later start on the same DIR restores znodes and sessions
#
# Environment: ZK_WATCH_PID (stop the server when that process is gone: a test binary killed by its own
# timeout cannot run its cleanup, and the server must not outlive it), JAVA (default: java on PATH), ZOOKEEPER_JAR (default /usr/share/java/zookeeper.jar; its
# manifest names the dependency jars), ZK_TICK_TIME in ms (default 2000, ZooKeeper's and Debian's default,
# so sessions expire as they do in production), ZK_START_TIMEOUT in seconds (default 60: a JVM on a busy
# two-core machine under `go test -race` can take a while).
set -euo pipefail

java=${JAVA:-java}
jar=${ZOOKEEPER_JAR:-/usr/share/java/zookeeper.jar}
# The Debian jar logs through slf4j without a binding; slf4j-simple (from libslf4j-java, a dependency of
# the package) sends the server's log to stderr, which lands in DIR/zookeeper.log.
logjar=/usr/share/java/slf4j-simple.jar

usage() {
  echo "usage: $0 check | start DIR PORT | stop DIR" >&2
  exit 2
}

installed() {
  command -v "$java" >/dev/null 2>&1 && [[ -r $jar ]]
}

# serving PORT: true when the server on 127.0.0.1:PORT serves requests. "ruok" is not enough: it answers
# "imok" as soon as the port is open, before the database is loaded; "srvr" reports a Mode only then.
serving() {
  local ans
  ans=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"' && printf srvr >&3 && cat <&3' 2>/dev/null) || true
  [[ $ans == *"Mode: "* ]]
}

alive() {
  [[ -s $1/zookeeper.pid ]] && kill -0 "$(cat "$1/zookeeper.pid")" 2>/dev/null
}

start() {
  local dir=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] || usage
  installed || { echo "zookeeper.sh: not installed: need $jar and $java (apt-get install zookeeper)" >&2; exit 3; }
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if alive "$dir"; then
    echo "zookeeper.sh: already running in $dir (pid $(cat "$dir/zookeeper.pid"))" >&2
    exit 1
  fi
  # clientPortAddress keeps it on loopback; the AdminServer (Jetty on 8080) is off; the four-letter words
  # are the ones tests use (srvr for readiness, wchc/wchp to see who watches what). forceSync=no: the
  # page cache survives the process, which is all a test restart needs, and fsync on a busy disk is slow.
  cat >"$dir/zoo.cfg" <<EOF
tickTime=${ZK_TICK_TIME:-2000}
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr,cons,wchc,wchp,wchs
forceSync=no
EOF
  local cp=$jar
  [[ -r $logjar ]] && cp=$cp:$logjar
  # setsid: the server gets its own session, so a test's Ctrl-C does not reach it before stop does.
  setsid "$java" -Xmx256m -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true \
    -Dzookeeper.admin.enableServer=false -cp "$cp" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
    >>"$dir/zookeeper.log" 2>&1 </dev/null &
  local zkpid=$!
  echo $zkpid >"$dir/zookeeper.pid"
  if [[ -n ${ZK_WATCH_PID:-} ]]; then
    setsid bash -c 'while kill -0 '"$zkpid"' 2>/dev/null; do
      kill -0 '"$ZK_WATCH_PID"' 2>/dev/null || { kill -TERM '"$zkpid"'; break; }
      sleep 1
    done' >/dev/null 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + ${ZK_START_TIMEOUT:-60}))
  until serving "$port"; do
    if ! alive "$dir" || ((SECONDS >= deadline)); then
      echo "zookeeper.sh: did not start on 127.0.0.1:$port; log tail:" >&2
      tail -n 30 "$dir/zookeeper.log" >&2 || true
      stop "$dir"
      exit 1
    fi
    sleep 0.2
  done
}

stop() {
  local dir=$1 pid i
  [[ -s $dir/zookeeper.pid ]] || return 0
  pid=$(cat "$dir/zookeeper.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/zookeeper.pid"
}

case ${1:-} in
check)
  [[ $# -eq 1 ]] || usage
  installed || exit 3
  ;;
start)
  [[ $# -eq 3 ]] || usage
  start "$2" "$3"
  ;;
stop)
  [[ $# -eq 2 ]] || usage
  stop "$2"
  ;;
*) usage ;;
esac
