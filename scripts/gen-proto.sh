#!/usr/bin/env bash
# Regenerates the Go code of rpc/riotpb from riot.proto. Installs protoc (Debian
# package protobuf-compiler) and the two Go plugins when they are missing.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gobin="$(go env GOPATH)/bin"
fi
export PATH="$gobin:$PATH"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "gen-proto: protoc is missing; install the protobuf-compiler package" >&2
		exit 1
	fi
	apt-get update
	apt-get install -y protobuf-compiler
fi

if ! command -v protoc-gen-go >/dev/null 2>&1 ||
	! protoc-gen-go --version 2>/dev/null | grep -q "$PROTOC_GEN_GO_VERSION"; then
	go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi

if ! command -v protoc-gen-go-grpc >/dev/null 2>&1 ||
	! protoc-gen-go-grpc --version 2>/dev/null | grep -q "${PROTOC_GEN_GO_GRPC_VERSION#v}"; then
	go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

cd "$root"
go generate ./rpc/riotpb
