#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Go modules through the
# module proxy, and Debian packages with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go is required (https://go.dev/dl/)" >&2
	exit 1
fi
go mod download

need=()
# redis-cli is used by the cluster script and the transcript comparisons.
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# ip, ss and iptables: the fault-injection suite (chaos/) runs nodes in network
# namespaces and cuts links with iptables.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing ${need[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "deps: optional packages missing (${need[*]}); tests that need them will install or fail" >&2
	fi
fi
