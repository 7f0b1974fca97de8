#!/usr/bin/env bash
# Starts or stops a local 3-node riot-redis cluster on the ports the README lists:
#   RESP 6379/6380/6381, HTTP 8080-8082, gRPC 32123-32125, Raft 12000-12002.
# Data lives in ./.cluster/nodeN, logs in ./.cluster/nodeN.log.
# The three nodes share this host, so each gets its share of the cores as Go
# processors (GOMAXPROCS = cores / 3, at least 1) unless GOMAXPROCS is set.
#   scripts/cluster.sh start   build, start node1 (bootstrap), node2 and node3 (--join)
#   scripts/cluster.sh stop    SIGTERM every node (a leader hands leadership over first)
#   scripts/cluster.sh status  CLUSTER PEERS from node1
#   scripts/cluster.sh clean   stop and delete ./.cluster
set -euo pipefail
cd "$(dirname "$0")/.."
base=.cluster
bin=bin/riot-redis

start() {
	mkdir -p "$base" bin
	go build -o "$bin" ./cmd/riot-redis
	procs=${GOMAXPROCS:-$(($(nproc) / 3))}
	if [ "$procs" -lt 1 ]; then procs=1; fi
	for i in 1 2 3; do
		if [ -f "$base/node$i.pid" ] && kill -0 "$(cat "$base/node$i.pid")" 2>/dev/null; then
			echo "node$i already running (pid $(cat "$base/node$i.pid"))"
			continue
		fi
		args=(--id "node$i" --dir "$base/node$i"
			--resp-addr "127.0.0.1:$((6378 + i))" --http-addr "127.0.0.1:$((8079 + i))"
			--rpc-addr "127.0.0.1:$((32122 + i))" --raft-addr "127.0.0.1:$((11999 + i))")
		if [ "$i" != 1 ]; then
			args+=(--join "127.0.0.1:6379,127.0.0.1:6380")
		fi
		GOMAXPROCS=$procs nohup "$bin" "${args[@]}" >"$base/node$i.log" 2>&1 &
		echo $! >"$base/node$i.pid"
		echo "node$i started (pid $!, RESP 127.0.0.1:$((6378 + i)), GOMAXPROCS=$procs)"
		if [ "$i" = 1 ]; then sleep 2; fi
	done
}

stop() {
	for i in 1 2 3; do
		f="$base/node$i.pid"
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if kill -TERM "$pid" 2>/dev/null; then
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			echo "node$i stopped"
		fi
		rm -f "$f"
	done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) redis-cli -p 6379 CLUSTER PEERS ;;
clean) stop; rm -rf "$base" ;;
*) echo "usage: $0 start|stop|status|clean" >&2; exit 2 ;;
esac
