// Package harness runs riot-redis clusters as real processes in their own
// network namespaces and breaks them: it builds the binary, starts one process
// per node (each with its own address on a private bridge and its own data
// directory), cuts links with iptables, kills, pauses and restarts processes,
// changes leadership and membership, drives go-redis clients against every
// node while recording a history on one monotonic clock, and checks the
// result: linearizability per key (porcupine), counters, acknowledged writes
// after a full restart, and convergence of every replica.
//
// Everything it creates in the kernel is named after the test process
// (namespaces riot-<pid>-<n>-..., links rb<pid>-<n> and rv<pid>-<n>) so that
// Cleanup removes it and a later run sweeps what a killed run left behind.
// It needs root (network namespaces); it fails, never skips, without it.
package harness
