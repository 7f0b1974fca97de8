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
# /dev/fuse: the power-failure round of the fault-injection suite puts the
# nodes' data on a FUSE file system (internal/powerfs). Some containers have
# the kernel's FUSE but no device node for it.
if [ ! -e /dev/fuse ] && [ "$(id -u)" = 0 ]; then
	modprobe fuse 2>/dev/null || true
	mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || echo "deps: /dev/fuse missing and could not be created" >&2
fi
