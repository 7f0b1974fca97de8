package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/riot-kv/riot-redis/storage"
)

// Reads of the keyspace. Like Get, they take the reader's time (unix ms) to
// decide expiry: an expired key is absent even before the sweep removes it.

// typeNames are the names TYPE reports, indexed by value type.
var typeNames = [...]string{
	typeString: "string",
	typeHash:   "hash",
	typeList:   "list",
	typeSet:    "set",
	typeZSet:   "zset",
}

// Type returns the type of key's value as Redis's TYPE names it ("string",
// "hash", ...), or "none" when the key does not exist at nowMs.
func (f *FSM) Type(key []byte, nowMs int64) (string, error) {
	rec, ok, err := f.read(key, nowMs)
	if err != nil || !ok {
		return "none", err
	}
	return typeNames[rec.typ], nil
}

// Keys returns the keys matching the glob pattern (Redis's KEYS syntax) that
// exist at nowMs, in byte order. A pattern that starts with literal bytes
// only visits keys with that prefix.
func (f *FSM) Keys(pattern []byte, nowMs int64) ([][]byte, error) {
	all := len(pattern) == 1 && pattern[0] == '*' // also matches the empty key, as in Redis
	prefix := literalPrefix(pattern)
	start := append([]byte{nsData}, prefix...)
	end := prefixEnd(start)
	it := f.eng.NewIterator(start, end)
	var out [][]byte
	for it.Next() {
		key := it.Key()[1:]
		if !all && !globMatch(pattern, key) {
			continue
		}
		rec, ok := decodeRecord(it.Value())
		if ok && expired(rec.expireAt, nowMs) {
			continue
		}
		out = append(out, bytes.Clone(key))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// literalPrefix returns the bytes every key matching pattern starts with
// that pattern spells out literally (up to the first glob character).
func literalPrefix(pattern []byte) []byte {
	for i, c := range pattern {
		switch c {
		case '*', '?', '[', '\\':
			return pattern[:i]
		}
	}
	return pattern
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ScanOptions are the options of Scan.
type ScanOptions struct {
	// Match is a glob pattern keys must match (nil or "*": any key).
	Match []byte
	// Count is how many keys to examine (not return) in this call; at least
	// 1. Keys whose hash equals the last examined one's are always examined
	// too, so that the cursor never splits them.
	Count int
	// Type, if set, keeps only keys of that type (TYPE's names, compared
	// case-insensitively; an unknown name matches nothing).
	Type string
}

// Scan returns a page of keys in hash order, starting at cursor (0 for the
// first page), and the cursor of the next page (0 when the iteration is
// complete). The cursor is the hash of the next key to visit, so an
// iteration that runs while keys are added and removed still returns every
// key that exists for its whole duration exactly once, on any node.
func (f *FSM) Scan(cursor uint64, o ScanOptions, nowMs int64) (uint64, [][]byte, error) {
	count := max(o.Count, 1)
	if len(o.Match) == 1 && o.Match[0] == '*' {
		o.Match = nil
	}
	start := binary.BigEndian.AppendUint64([]byte{nsHash}, cursor)
	it := f.eng.NewIterator(start, []byte{nsHash + 1})
	var (
		out      [][]byte
		next     uint64
		examined int
		last     uint64
	)
	for it.Next() {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		h := binary.BigEndian.Uint64(k[1:9])
		if examined >= count && h != last {
			next = h
			break
		}
		examined++
		last = h
		key := k[9:]
		if o.Match != nil && !globMatch(o.Match, key) {
			continue
		}
		rec, ok, err := f.read(key, nowMs)
		if errors.Is(err, ErrCorruptValue) {
			// A record that does not decode still names a key (DEL
			// removes it); it has no type to filter on.
			ok, err = o.Type == "", nil
		}
		if err != nil {
			it.Close()
			return 0, nil, err
		}
		if !ok || o.Type != "" && !equalFoldASCII(o.Type, typeNames[rec.typ]) {
			continue
		}
		out = append(out, bytes.Clone(key))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, err
	}
	return next, out, nil
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// RandomKey limits: expired keys not yet swept are skipped; after
// randomKeyRun of them in a row the search restarts at another position, at
// most randomKeyTries times.
const (
	randomKeyRun   = 100
	randomKeyTries = 10
)

// RandomKey returns a key that exists at nowMs, chosen by seed: the first
// live key at or after the seed's position in hash order (wrapping around).
// ok is false when no key exists (or, rarely, when only expired keys not yet
// swept were met on every try).
func (f *FSM) RandomKey(seed uint64, nowMs int64) ([]byte, bool, error) {
	for try := 0; try < randomKeyTries; try++ {
		key, found, empty, err := f.randomKeyFrom(seed, nowMs)
		if err != nil || found || empty {
			return key, found, err
		}
		seed = keyHash(binary.BigEndian.AppendUint64(nil, seed))
	}
	return nil, false, nil
}

// randomKeyFrom looks for a live key from position seed on, wrapping around
// once, and gives up after randomKeyRun expired keys. empty reports that no
// key at all was met.
func (f *FSM) randomKeyFrom(seed uint64, nowMs int64) (key []byte, found, empty bool, err error) {
	pos := binary.BigEndian.AppendUint64([]byte{nsHash}, seed)
	seen := 0
	for _, r := range [2][2][]byte{{pos, {nsHash + 1}}, {{nsHash}, pos}} {
		it := f.eng.NewIterator(r[0], r[1])
		for it.Next() && seen < randomKeyRun {
			k := it.Key()
			if len(k) < 9 {
				continue
			}
			seen++
			_, ok, rerr := f.read(k[9:], nowMs)
			if errors.Is(rerr, ErrCorruptValue) {
				ok, rerr = true, nil
			}
			if rerr != nil {
				it.Close()
				return nil, false, false, rerr
			}
			if ok {
				key = bytes.Clone(k[9:])
				break
			}
		}
		err = it.Err()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil || key != nil {
			return key, key != nil, false, err
		}
	}
	return nil, false, seen == 0, nil
}

// ExpiredKeys returns up to limit keys whose expiry is at or before nowMs,
// oldest expiry first, from the TTL index. The background sweep proposes
// their deletion; the delete re-checks each key when it applies. An index
// entry that does not match its key's record (left behind by a record that
// no longer decodes) is skipped, so the sweep never proposes the same
// undeletable key forever; at most 4*limit entries are examined.
func (f *FSM) ExpiredKeys(nowMs int64, limit int) ([][]byte, error) {
	if limit <= 0 || nowMs <= 0 {
		return nil, nil
	}
	end := []byte{nsExpire + 1}
	if nowMs < math.MaxInt64 {
		end = binary.BigEndian.AppendUint64([]byte{nsExpire}, uint64(nowMs+1))
	}
	it := f.eng.NewIterator([]byte{nsExpire}, end)
	var out [][]byte
	for examined := 0; len(out) < limit && examined < 4*limit && it.Next(); examined++ {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		at, key := int64(binary.BigEndian.Uint64(k[1:9])), k[9:]
		v, err := f.eng.Get(dataKey(key, 0))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("fsm: scan TTL index: %w", err)
		}
		if rec, ok := decodeRecord(v); ok && rec.expireAt == at {
			out = append(out, bytes.Clone(key))
		}
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("fsm: scan TTL index: %w", err)
	}
	return out, nil
}
