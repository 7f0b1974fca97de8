package resp

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisBitCommands drives SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and TOUCH
// through go-redis's typed API, alone and in a MULTI block.
func TestGoRedisBitCommands(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	for _, off := range []int64{1, 3, 9, 30} {
		if old, err := rdb.SetBit(ctx, "flags", off, 1).Result(); err != nil || old != 0 {
			t.Fatalf("SETBIT flags %d 1 = %d, %v", off, old, err)
		}
	}
	if v, err := rdb.Get(ctx, "flags").Bytes(); err != nil || string(v) != "\x50\x40\x00\x02" {
		t.Fatalf("GET flags = %q, %v", v, err)
	}
	if b, err := rdb.GetBit(ctx, "flags", 9).Result(); err != nil || b != 1 {
		t.Errorf("GETBIT flags 9 = %d, %v", b, err)
	}
	if n, err := rdb.BitCount(ctx, "flags", nil).Result(); err != nil || n != 4 {
		t.Errorf("BITCOUNT flags = %d, %v", n, err)
	}
	if n, err := rdb.BitCount(ctx, "flags", &redis.BitCount{Start: 2, End: 9, Unit: "BIT"}).Result(); err != nil || n != 2 {
		t.Errorf("BITCOUNT flags 2 9 BIT = %d, %v", n, err)
	}
	if p, err := rdb.BitPos(ctx, "flags", 1, 2).Result(); err != nil || p != 30 {
		t.Errorf("BITPOS flags 1 2 = %d, %v", p, err)
	}
	if p, err := rdb.BitPosSpan(ctx, "flags", 0, 0, 3, "bit").Result(); err != nil || p != 0 {
		t.Errorf("BITPOS flags 0 0 3 BIT = %d, %v", p, err)
	}
	if n, err := rdb.Touch(ctx, "flags", "nokey", "flags").Result(); err != nil || n != 2 {
		t.Errorf("TOUCH = %d, %v", n, err)
	}
	if err := rdb.SetBit(ctx, "flags", -1, 1).Err(); err == nil || err.Error() != "ERR bit offset is not an integer or out of range" {
		t.Errorf("SETBIT flags -1 1: %v", err)
	}

	if err := rdb.Set(ctx, "mask", "\x0f\xff", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.BitOpAnd(ctx, "masked", "flags", "mask").Result(); err != nil || n != 4 {
		t.Errorf("BITOP AND masked flags mask = %d, %v", n, err)
	}
	if v, err := rdb.Get(ctx, "masked").Bytes(); err != nil || string(v) != "\x00\x40\x00\x00" {
		t.Errorf("GET masked = %q, %v", v, err)
	}
	if err := rdb.BitOpNot(ctx, "masked", "nokey").Err(); err != nil {
		t.Errorf("BITOP NOT masked nokey: %v", err)
	}
	if n, err := rdb.Exists(ctx, "masked").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS masked after BITOP NOT of a missing key = %d, %v", n, err)
	}

	// BITFIELD with GETs only reads; pipelined behind writes it sees them.
	var fields, roFields *redis.IntSliceCmd
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "bf", "\x01\x02", 0)
		p.BitField(ctx, "bf", "INCRBY", "u8", "#1", 10)
		fields = p.BitField(ctx, "bf", "GET", "u8", "0", "GET", "i16", "0")
		roFields = p.BitFieldRO(ctx, "bf", "u8", "8")
		return nil
	}); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if v, err := fields.Result(); err != nil || len(v) != 2 || v[0] != 1 || v[1] != 0x010c {
		t.Errorf("BITFIELD GET after a pipelined INCRBY = %v, %v", v, err)
	}
	if v, err := roFields.Result(); err != nil || len(v) != 1 || v[0] != 12 {
		t.Errorf("BITFIELD_RO after a pipelined INCRBY = %v, %v", v, err)
	}

	var getBit *redis.IntCmd
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetBit(ctx, "flags", 30, 0)
		getBit = p.GetBit(ctx, "flags", 30)
		return nil
	}); err != nil {
		t.Fatalf("MULTI: %v", err)
	}
	if b, err := getBit.Result(); err != nil || b != 0 {
		t.Errorf("GETBIT inside MULTI after SETBIT 0 = %d, %v", b, err)
	}
}

// TestGoRedisLCS runs LCS through go-redis's typed API, and checks the bound
// on its table: (len1+1)*(len2+1) 4-byte cells, at most proto-max-bulk-len
// bytes, as in Redis.
func TestGoRedisLCS(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxValueSize: 4096})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	if err := rdb.MSet(ctx, "a", "ohmytext", "b", "mynewtext").Err(); err != nil {
		t.Fatal(err)
	}
	if m, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "a", Key2: "b"}).Result(); err != nil || m.MatchString != "mytext" {
		t.Errorf("LCS a b = %+v, %v", m, err)
	}
	if m, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "a", Key2: "b", Len: true}).Result(); err != nil || m.Len != 6 {
		t.Errorf("LCS a b LEN = %+v, %v", m, err)
	}
	m, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "a", Key2: "b", Idx: true, WithMatchLen: true}).Result()
	if err != nil || m.Len != 6 || len(m.Matches) != 2 || m.Matches[0].Key1 != (redis.LCSPosition{Start: 4, End: 7}) ||
		m.Matches[0].Key2 != (redis.LCSPosition{Start: 5, End: 8}) || m.Matches[0].MatchLen != 4 || m.Matches[1].MatchLen != 2 {
		t.Errorf("LCS a b IDX WITHMATCHLEN = %+v, %v", m, err)
	}

	long := strings.Repeat("x", 40) // 41*41 cells of 4 bytes > 4096
	if err := rdb.MSet(ctx, "c", long, "d", long[:30]).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "c", Key2: "c", Len: true}).Result(); err == nil || err.Error() != errTextLCSMemory {
		t.Errorf("LCS of two 40-byte strings with proto-max-bulk-len 4096: %v", err)
	}
	if m, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "d", Key2: "d", Len: true}).Result(); err != nil || m.Len != 30 {
		t.Errorf("LCS of two 30-byte strings = %+v, %v", m, err)
	}
}

// TestProtoMaxBulkLen checks that the commands that build a string from an
// offset stay within proto-max-bulk-len, as Redis's do, when it is set
// lower than the default.
func TestProtoMaxBulkLen(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxValueSize: 4096})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	tooLong := "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	if err := rdb.SetRange(ctx, "k", 4089, "abcdefgh").Err(); err == nil || err.Error() != tooLong {
		t.Errorf("SETRANGE past 4096 bytes: %v", err)
	}
	if n, err := rdb.SetRange(ctx, "k", 4088, "abcdefgh").Result(); err != nil || n != 4096 {
		t.Errorf("SETRANGE up to 4096 bytes = %d, %v", n, err)
	}
	if n, err := rdb.SetRange(ctx, "empty", 1<<40, "").Result(); err != nil || n != 0 {
		t.Errorf("SETRANGE of nothing far away = %d, %v; want 0, as Redis", n, err)
	}
	if err := rdb.SetBit(ctx, "b", 4096*8, 1).Err(); err == nil || err.Error() != "ERR bit offset is not an integer or out of range" {
		t.Errorf("SETBIT past 4096 bytes: %v", err)
	}
	if err := rdb.SetBit(ctx, "b", 4096*8-1, 1).Err(); err != nil {
		t.Errorf("SETBIT of the last bit of 4096 bytes: %v", err)
	}
	if err := rdb.BitField(ctx, "f", "SET", "u8", 4096*8, 1).Err(); err == nil {
		t.Errorf("BITFIELD SET past 4096 bytes succeeded")
	}
	if err := rdb.Set(ctx, "big", strings.Repeat("x", 4097), 0).Err(); err == nil {
		t.Errorf("SET of 4097 bytes succeeded")
	}
	if v, err := rdb.ConfigGet(ctx, "proto-max-bulk-len").Result(); err != nil || v["proto-max-bulk-len"] != "4096" {
		t.Errorf("CONFIG GET proto-max-bulk-len = %v, %v", v, err)
	}
	if n, err := rdb.Exists(ctx, "empty", "big", "f").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS of the refused keys = %d, %v", n, err)
	}
}

// TestMemoryUsage: MEMORY USAGE estimates a key's bytes (key, value and a
// fixed overhead), nil for a missing or expired key, also inside MULTI.
func TestMemoryUsage(t *testing.T) {
	rdb := mustClient(t, mustServer(t, mustNode(t), Config{}), nil)
	ctx := testContext(t)
	if err := rdb.Set(ctx, "small", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "big", strings.Repeat("x", 10000), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.MemoryUsage(ctx, "small").Result(); err != nil || n != 5+1+memoryKeyOverhead {
		t.Errorf("MEMORY USAGE small = %d, %v", n, err)
	}
	if n, err := rdb.MemoryUsage(ctx, "big", 0).Result(); err != nil || n != 3+10000+memoryKeyOverhead {
		t.Errorf("MEMORY USAGE big SAMPLES 0 = %d, %v", n, err)
	}
	if err := rdb.MemoryUsage(ctx, "none").Err(); err != redis.Nil {
		t.Errorf("MEMORY USAGE of a missing key: %v, want nil", err)
	}
	var usage *redis.IntCmd
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Append(ctx, "small", "vv")
		usage = p.MemoryUsage(ctx, "small")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := usage.Result(); err != nil || n != 5+3+memoryKeyOverhead {
		t.Errorf("MEMORY USAGE inside MULTI after APPEND = %d, %v", n, err)
	}
}
