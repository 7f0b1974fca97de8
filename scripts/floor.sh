#!/usr/bin/env bash
# The floor under riot-redis's reads: what a RESP server written in Go costs
# per request on this machine before it does any database work, against
# redis-server without persistence, with identical redis-benchmark flags
# (GET -c 50, -r 100000, 64 B values).
#
#   scripts/floor.sh                  FLOOR_N=200000 requests per row, 3 rounds
#   FLOOR_N=50000 FLOOR_REPEAT=1 scripts/floor.sh
#   FLOOR_FLAGS="-P 16" scripts/floor.sh   extra redis-benchmark flags
#
# Servers (all started here, stopped at exit), measured in turn, round after
# round, so a slow minute hits every one:
#   redis            redis-server --appendonly no --save ""         (port 7401)
#   goroutine        scripts/floor: a goroutine per connection      (7402)
#   goroutine, 1     the same with GOMAXPROCS=1                     (7403)
#   redcon           scripts/floor on redcon's server               (7404)
#   epoll            scripts/floor: one goroutine, an epoll loop    (7405)
#   riot stale       one riot-redis node, --read-consistency stale  (7406)
#                    (its RESP event loop, the default on Linux)
#   riot stale, 1    the same with GOMAXPROCS=1                     (7407)
#   riot stale, gor  the same node with --resp-event-loop=false:
#                    a goroutine per connection                     (7408)
# scripts/floor answers every GET with a fixed 64-byte value; the riot node
# and redis-server hold the keys redis-benchmark asks for (loaded first).
# The table gives medians over the rounds: requests/s, the ratio to
# redis-server in the same rounds, and the server's CPU per request (user +
# system, from /proc), which a busy minute moves less than throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

N=${FLOOR_N:-200000}
REPEAT=${FLOOR_REPEAT:-3}
read -r -a EXTRA <<<"${FLOOR_FLAGS:-}"
need_redis
ports_free floor 7401 7402 7403 7404 7405 7406 7407 7408 7416 7417 7418 7426 7427 7428 7436 7437 7438 || exit 1
work=$(mktemp -d /tmp/riot-floor.XXXXXX)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	redis-cli -p 7401 shutdown nosave >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/floor" ./scripts/floor
go build -o "$work/riot-redis" ./cmd/riot-redis

redis-server --port 7401 --dir "$work" --appendonly no --save "" --daemonize yes \
	--logfile "$work/redis.log" --pidfile "$work/redis.pid" >/dev/null

declare -A pid
names=(redis goroutine "goroutine, 1" redcon epoll "riot stale" "riot stale, 1" "riot stale, gor")
declare -A port=([redis]=7401 [goroutine]=7402 ["goroutine, 1"]=7403 [redcon]=7404 [epoll]=7405
	["riot stale"]=7406 ["riot stale, 1"]=7407 ["riot stale, gor"]=7408)

# start NAME COMMAND...: $! is the server's own pid, as env execs it.
start() {
	local name=$1
	shift
	"$@" >"$work/${port[$name]}.log" 2>&1 &
	pids+=($!)
	pid[$name]=$!
}
start goroutine "$work/floor" -mode goroutine -addr 127.0.0.1:7402
start "goroutine, 1" env GOMAXPROCS=1 "$work/floor" -mode goroutine -addr 127.0.0.1:7403
start redcon "$work/floor" -mode redcon -addr 127.0.0.1:7404
start epoll "$work/floor" -mode epoll -addr 127.0.0.1:7405
for i in 6 7 8; do
	name="riot stale"
	gmp=()
	flags=()
	if [ $i = 7 ]; then name="riot stale, 1" gmp=(GOMAXPROCS=1); fi
	if [ $i = 8 ]; then name="riot stale, gor" flags=(--resp-event-loop=false); fi
	start "$name" env "${gmp[@]}" "$work/riot-redis" --id f$i --dir "$work/riot$i" \
		--resp-addr 127.0.0.1:740$i --raft-addr 127.0.0.1:741$i --rpc-addr 127.0.0.1:742$i \
		--http-addr 127.0.0.1:743$i --read-consistency stale "${flags[@]}"
done
for _ in $(seq 1 100); do
	[ -f "$work/redis.pid" ] && break
	sleep 0.1
done
pid[redis]=$(cat "$work/redis.pid")
for name in "${names[@]}"; do
	ok=
	for _ in $(seq 1 100); do
		if redis-cli -p "${port[$name]}" PING >/dev/null 2>&1; then ok=1 && break; fi
		sleep 0.1
	done
	if [ -z "$ok" ]; then
		echo "floor: $name (port ${port[$name]}) did not start" >&2
		exit 1
	fi
done
for p in 7401 7406 7407 7408; do
	redis-benchmark -p "$p" -t set -n 100000 -r 100000 -d 64 -c 50 -q >/dev/null 2>&1
done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

declare -A rps cpus
for round in $(seq 1 "$REPEAT"); do
	for name in "${names[@]}"; do
		c0=$(cpu "${pid[$name]}")
		r=$(redis-benchmark -p "${port[$name]}" -t get -n "$N" -r 100000 -d 64 -c 50 "${EXTRA[@]}" --csv 2>/dev/null |
			awk -F, 'NR==2 {gsub(/"/,""); print $2}')
		c1=$(cpu "${pid[$name]}")
		u=$(awk -v d=$((c1 - c0)) -v t="$tick" -v n="$N" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
		rps[$name]+="$r "
		cpus[$name]+="$u "
		echo "round $round: $name $r req/s, $u us CPU per request" >&2
	done
done


echo
echo "Date: $(date -u +%F). Machine: $(nproc)-core $(uname -m), Linux $(uname -r). $(redis-server --version | awk '{print "Redis server", $3}')."
echo "redis-benchmark -t get -n $N -r 100000 -d 64 -c 50${EXTRA[*]:+ ${EXTRA[*]}}; $REPEAT rounds, medians. \", 1\": GOMAXPROCS=1."
echo
echo "| server | GET/s | ratio to redis | server CPU µs per GET | each round (GET/s) |"
echo "|---|---|---|---|---|"
# shellcheck disable=SC2086
base=$(median ${rps[redis]})
for name in "${names[@]}"; do
	# shellcheck disable=SC2086
	m=$(median ${rps[$name]})
	# shellcheck disable=SC2086
	u=$(median ${cpus[$name]})
	ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
	echo "| $name | $m | $ratio | $u | $(echo ${rps[$name]} | sed 's/ / \/ /g') |"
done
