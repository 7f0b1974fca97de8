# Shell functions shared by scripts/bench.sh and scripts/floor.sh (sourced).

# need_redis installs redis-server and redis-benchmark from Debian when
# missing.
need_redis() {
	local need=()
	command -v redis-server >/dev/null || need+=(redis-server)
	command -v redis-benchmark >/dev/null || need+=(redis-tools)
	if [ ${#need[@]} -gt 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
}

# ports_free NAME PORT...: fails, naming the first port something listens
# on: a server already there would be benchmarked in place of the one the
# script starts.
ports_free() {
	local name=$1 port
	shift
	for port in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$name: port $port is in use; stop whatever listens there first" >&2
			return 1
		fi
	done
}

# median of its arguments (for an even count, the mean of the middle two)
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'
}
