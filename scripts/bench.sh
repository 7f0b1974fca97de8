#!/usr/bin/env bash
# Benchmarks riot-redis against redis-server on this machine, in one run, with
# identical redis-benchmark flags, and prints one markdown table.
#
#   scripts/bench.sh              full run (-n 100000 per row)
#   BENCH_N=20000 scripts/bench.sh  shorter run
#   BENCH_OUT=docs/bench.md scripts/bench.sh   also write the table to a file
#   RIOT_GOMAXPROCS=1 scripts/bench.sh   give each riot node that many Go
#                                        processors (default: Go's, one per core)
#   RIOT_FLAGS='--resp-event-loop=false' scripts/bench.sh   more riot-redis
#                                        flags for every node
#
# Targets started here (and stopped at exit):
#   redis-fsync    redis-server --appendonly yes --appendfsync always   (port 7101)
#   redis-mem      redis-server without persistence                     (port 7102)
#   riot           3-node riot-redis cluster, durable (fsync on)        (ports 7201-7203)
# Rows: SET, GET, INCR, MSET with -c 1, -c 50, -c 50 -P 16, values of 64 B
# and 1 KiB, random keys (-r 100000). GET rows for riot at each read
# consistency level, on the leader only and spread over all three nodes (one
# redis-benchmark per node, run at the same time, requests/s summed), each
# level against its own redis-server reference, measured before the level's
# rows and after each repetition of them. SET with 64 B values through a
# follower (writes relayed to the leader) at -c 1, -c 50 and -c 50 -P 16,
# each against redis-server with appendfsync always measured right after it.
#
# The machine's speed moves from minute to minute (two runs of one row a
# minute apart can differ by a third), so the rows the targets name (SET
# with 64 B values at -c 1, -c 50 and -c 50 -P 16, and the GET rows per
# consistency level) are measured BENCH_REPEAT times (default 3), riot and
# its references alternating, and report the median of each column; every
# measurement is listed under the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

N=${BENCH_N:-100000}
R=100000
REPEAT=${BENCH_REPEAT:-3}
need_redis
ports_free bench 7101 7102 7201 7202 7203 7211 7212 7213 7221 7222 7223 7231 7232 7233 || exit 1
work=$(mktemp -d /tmp/riot-bench.XXXXXX)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	redis-cli -p 7101 shutdown nosave >/dev/null 2>&1 || true
	redis-cli -p 7102 shutdown nosave >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/riot-redis" ./cmd/riot-redis

redis-server --port 7101 --dir "$work" --appendonly yes --appendfsync always --save "" --daemonize yes \
	--logfile "$work/redis-fsync.log" --pidfile "$work/r1.pid" --appendfilename fsync.aof >/dev/null
redis-server --port 7102 --dir "$work" --appendonly no --save "" --daemonize yes \
	--logfile "$work/redis-mem.log" --pidfile "$work/r2.pid" >/dev/null

start_riot() { # $1 = read consistency
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
	rm -rf "$work/riot"
	for i in 1 2 3; do
		args=(--id "n$i" --dir "$work/riot/n$i" --resp-addr "127.0.0.1:$((7200 + i))"
			--raft-addr "127.0.0.1:$((7210 + i))" --rpc-addr "127.0.0.1:$((7220 + i))"
			--http-addr "127.0.0.1:$((7230 + i))" --read-consistency "$1")
		# shellcheck disable=SC2206 # RIOT_FLAGS is split into flags on purpose
		args+=(${RIOT_FLAGS:-})
		if [ "$i" != 1 ]; then args+=(--join 127.0.0.1:7201); fi
		env ${RIOT_GOMAXPROCS:+"GOMAXPROCS=$RIOT_GOMAXPROCS"} "$work/riot-redis" "${args[@]}" >"$work/riot-n$i.log" 2>&1 &
		pids+=($!)
		if [ "$i" = 1 ]; then wait_ready 7201; fi
	done
	for _ in $(seq 1 100); do
		n=$(redis-cli -p 7201 CLUSTER PEERS 2>/dev/null | grep -c '^voter$' || true)
		[ "$n" = 3 ] && break
		sleep 0.2
	done
	leader_port=7201
	for port in 7201 7202 7203; do
		if [ "$(redis-cli -p "$port" CLUSTER ROLE 2>/dev/null)" = leader ]; then leader_port=$port; fi
	done
	return 0
}

wait_ready() {
	for _ in $(seq 1 100); do
		redis-cli -p "$1" SET __ready 1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench: node on port $1 did not become ready" >&2
	exit 1
}

# bench PORT TEST DATASIZE EXTRA... -> "rps p50 p99"
bench() {
	local port=$1 test=$2 size=$3
	shift 3
	local n=$N
	# Single-connection rows are latency-bound: fewer requests keep them short.
	case " $* " in *" -c 1 "*) n=$((N / 10)) ;; esac
	redis-benchmark -p "$port" -t "$test" -n "$n" -r "$R" -d "$size" "$@" --csv 2>/dev/null |
		awk -F, 'NR==2 {gsub(/"/,""); print $2, $5, $7}'
}

# bench_all TEST DATASIZE EXTRA... : one redis-benchmark per riot node at once
bench_all() {
	local test=$1 size=$2
	shift 2
	local outs=()
	for port in 7201 7202 7203; do
		bench "$port" "$test" "$size" "$@" >"$work/all-$port" &
		outs+=($!)
	done
	wait "${outs[@]}"
	cat "$work"/all-72* | awk '{rps+=$1; if ($2>p50) p50=$2; if ($3>p99) p99=$3} END {printf "%.2f %s %s\n", rps, p50, p99}'
}

rows=()
row() { rows+=("$1"); echo "$1" >&2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# col N "a b c" "d e f"...: the Nth field of each argument
col() {
	local i=$1
	shift
	for x in "$@"; do awk -v i="$i" '{print $i}' <<<"$x"; done
}
repeats=()

header="| test | value | clients | riot rps | riot p50 ms | riot p99 ms | redis (aof always) rps | p50 | ratio | redis (no persistence) rps | p50 | ratio |"
sep="|---|---|---|---|---|---|---|---|---|---|---|---|"

start_riot linearizable
for size in 64 1024; do
	for test in set get incr mset; do
		for conc in "-c 1" "-c 50" "-c 50 -P 16"; do
			reps=1
			if [ "$test" = set ] && [ "$size" = 64 ]; then reps=$REPEAT; fi
			rs=() fs=() ms=()
			for _ in $(seq 1 "$reps"); do
				rs+=("$(bench "$leader_port" "$test" "$size" $conc)")
				fs+=("$(bench 7101 "$test" "$size" $conc)")
				ms+=("$(bench 7102 "$test" "$size" $conc)")
			done
			rr=$(median $(col 1 "${rs[@]}")) rp50=$(median $(col 2 "${rs[@]}")) rp99=$(median $(col 3 "${rs[@]}"))
			fr=$(median $(col 1 "${fs[@]}")) fp50=$(median $(col 2 "${fs[@]}"))
			mr=$(median $(col 1 "${ms[@]}")) mp50=$(median $(col 2 "${ms[@]}"))
			if [ "$reps" -gt 1 ]; then
				repeats+=("| ${test^^} $size B $conc | $(col 1 "${rs[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 2 "${rs[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 1 "${fs[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 2 "${fs[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 1 "${ms[@]}" | paste -sd/ | sed 's|/| / |g') |")
			fi
			row "| ${test^^} | $size B | $conc | $rr | $rp50 | $rp99 | $fr | $fp50 | $(ratio "$rr" "$fr") | $mr | $mp50 | $(ratio "$rr" "$mr") |"
		done
	done
done

# SET through a follower: its writes are relayed to the leader over gRPC,
# concurrent ones in one call. Each against redis-server with appendfsync
# always, measured right after it.
follower_port=7201
for port in 7201 7202 7203; do
	if [ "$port" != "$leader_port" ]; then follower_port=$port; fi
done
follower_rows=()
for conc in "-c 1" "-c 50" "-c 50 -P 16"; do
	fw=$(bench "$follower_port" set 64 $conc)
	fa=$(bench 7101 set 64 $conc)
	follower_rows+=("| SET | 64 B | $conc | $(col 1 "$fw") | $(col 2 "$fw") | $(col 3 "$fw") | $(col 1 "$fa") | $(col 2 "$fa") | $(ratio "$(col 1 "$fw")" "$(col 1 "$fa")") |")
	echo "${follower_rows[-1]}" >&2
done

# GET per read consistency, leader only and spread over all nodes. Each
# level's reference (redis-server without persistence, same flags) is
# measured just before its riot rows, while the fresh cluster is idle (not
# after the preload, whose background writes would slow it), and again just
# after them; the ratio is against the mean of the two. The machine's speed
# moves from minute to minute, and a ratio compares measurements taken close
# together.
read_rows=()
for lvl in linearizable lease stale; do
	start_riot "$lvl"
	ms=("$(bench 7102 get 64 -c 50)")
	redis-benchmark -p "$leader_port" -t set -n "$R" -r "$R" -d 64 -c 50 >/dev/null 2>&1 || true
	ls=() as=()
	for _ in $(seq 1 "$REPEAT"); do
		ls+=("$(bench "$leader_port" get 64 -c 50)")
		as+=("$(bench_all get 64 -c 50)")
		ms+=("$(bench 7102 get 64 -c 50)")
	done
	lr=$(median $(col 1 "${ls[@]}")) lp50=$(median $(col 2 "${ls[@]}")) lp99=$(median $(col 3 "${ls[@]}"))
	ar=$(median $(col 1 "${as[@]}")) ap50=$(median $(col 2 "${as[@]}")) ap99=$(median $(col 3 "${as[@]}"))
	mr=$(median $(col 1 "${ms[@]}"))
	mall=$(col 1 "${ms[@]}" | paste -sd/ | sed 's|/| / |g')
	read_rows+=("| $lvl | leader only | $lr | $lp50 | $lp99 | $mr | $(ratio "$lr" "$mr") |")
	read_rows+=("| $lvl | all 3 nodes | $ar | $ap50 | $ap99 | $mr | $(ratio "$ar" "$mr") |")
	repeats+=("| GET $lvl, leader only | $(col 1 "${ls[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 2 "${ls[@]}" | paste -sd/ | sed 's|/| / |g') | | | $mall |")
	repeats+=("| GET $lvl, all 3 nodes | $(col 1 "${as[@]}" | paste -sd/ | sed 's|/| / |g') | $(col 2 "${as[@]}" | paste -sd/ | sed 's|/| / |g') | | | |")
	echo "${read_rows[-2]}" >&2
	echo "${read_rows[-1]}" >&2
done

procs="Go's default processors per node (one per core)"
if [ -n "${RIOT_GOMAXPROCS:-}" ]; then procs="GOMAXPROCS=$RIOT_GOMAXPROCS per node"; fi
if [ -n "${RIOT_FLAGS:-}" ]; then procs="$procs, node flags: ${RIOT_FLAGS}"; fi
{
	echo "Date: $(date -u +%Y-%m-%d). Machine: $(nproc)-core $(uname -m), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r | cut -d- -f1)."
	echo "redis-benchmark -n $N (-c 1 rows: -n $((N / 10))) -r $R; $(redis-server --version | awk '{print $1, $2, $3}'); riot: 3 nodes on this host, Raft log fsync on, $procs."
	echo
	echo "$header"
	echo "$sep"
	printf '%s\n' "${rows[@]}"
	echo
	echo "SET through a follower (writes relayed to the leader; ratio against redis-server with appendfsync always, measured right after):"
	echo
	echo "| test | value | clients | riot rps | riot p50 ms | riot p99 ms | redis (aof always) rps | p50 | ratio |"
	echo "|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${follower_rows[@]}"
	echo
	echo "GET -c 50, 64 B values, per read consistency (ratio against redis-server without persistence, measured before each level's riot rows and after each repetition of them: the median):"
	echo
	echo "| consistency | where | riot rps | p50 ms | p99 ms | redis rps | ratio |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s\n' "${read_rows[@]}"
	echo
	echo "Each measurement of the repeated rows, in order (the tables give the medians):"
	echo
	echo "| row | riot rps | riot p50 ms | redis (aof always) rps | p50 | redis (no persistence) rps |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${repeats[@]}"
} | tee "${BENCH_OUT:-/dev/null}"
