// Package chaos is riot-redis's fault-injection and linearizability suite:
// real processes in their own network namespaces, real faults (iptables
// partitions, SIGKILL, SIGSTOP, leadership transfers, membership changes),
// go-redis clients on every node, and porcupine over the recorded history.
// See README.md in this directory.
package chaos

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/chaos/harness"
)

var (
	flagLong     = flag.Bool("chaos.long", false, "run the long profile (TestChaosLong: random nemesis schedules for -chaos.duration)")
	flagSeed     = flag.Int64("chaos.seed", 0, "seed of the random schedules and workloads (0: from the clock); printed by every run")
	flagDuration = flag.Duration("chaos.duration", 10*time.Minute, "total workload time of the long profile")
	flagRace     = flag.Bool("chaos.race", false, "build the riot-redis binary with the race detector")
	flagBankMGet = flag.Bool("chaos.bank-mget", true, "let half of the bank workload's reads use MGET (atomic since reads run under fsm.View)")
	flagLevel    = flag.String("chaos.consistency", "", "--read-consistency of the long profile's nodes (default: the server's, linearizable)")
	flagPowerFS  = flag.Bool("chaos.powerfs", false, "put the long profile's nodes on powerfs and make every kill a power failure (none, a quarter, half or three quarters of the unsynced pages written back)")
	flagNode     = flag.String("chaos.node-flags", "", "more flags for the long profile's nodes, space-separated (e.g. \"--snapshot-interval 1s --snapshot-threshold 32 --trailing-logs 16\")")
)

func TestMain(m *testing.M) {
	flag.Parse()
	if *flagRace {
		harness.BuildFlags = append(harness.BuildFlags, "-race")
	}
	os.Exit(harness.Main(m))
}

// seed returns -chaos.seed, or a fresh seed from the clock.
func seed() int64 {
	if *flagSeed != 0 {
		return *flagSeed
	}
	return time.Now().UnixNano() % 1_000_000_007
}

// fixedSeed returns -chaos.seed when set, else def: the short profile's
// scenarios have fixed seeds so that a normal run is repeatable.
func fixedSeed(def int64) int64 {
	if *flagSeed != 0 {
		return *flagSeed
	}
	return def
}
