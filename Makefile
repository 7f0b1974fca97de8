# riot-redis — build, test and run helpers. `make test` is the whole suite and
# what CI runs; it installs what the tests need when it is missing.
GO ?= go
PKGS := ./...

.PHONY: all build test deps fmt-check vet test-short bench chaos cluster cluster-stop proto

all: build

build:
	$(GO) build -o bin/riot-redis ./cmd/riot-redis

deps:
	./scripts/deps.sh

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# The whole suite, with the race detector. The resp package runs twice: with
# a goroutine per connection, and again with its tests' servers on the event
# loop (nodes started through server use the loop by default on Linux).
test: deps fmt-check vet
	$(GO) test -race -count=1 -timeout 25m $(PKGS)
	$(GO) test -race -count=1 -timeout 10m ./resp/ -args -resp.loop

# Quick feedback without the race detector.
test-short:
	$(GO) test -count=1 -timeout 10m $(PKGS)

# Micro-benchmarks of the storage engines, the state machine and the relay.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./storage/ ./fsm/ ./rpc/

# A local 3-node cluster on the ports the README lists ("A local 3-node cluster").
cluster:
	./scripts/cluster.sh start

cluster-stop:
	./scripts/cluster.sh stop

proto:
	./scripts/gen-proto.sh

# The long fault-injection profile (chaos/README.md): random nemesis schedules
# against real processes in network namespaces for 10 minutes (needs root).
# It prints a seed; replay with CHAOSFLAGS='-chaos.seed N'.
chaos:
	$(GO) test ./chaos/ -run TestChaosLong -chaos.long -timeout 30m -count=1 -v $(CHAOSFLAGS)
