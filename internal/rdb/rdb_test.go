package rdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// Payloads redis-server 7.0 answered to DUMP, and the values they hold.
var redisDumps = []struct {
	val, dump string
}{
	{"hello", "\x00\x05hello\n\x00cr\xdfve4 \n"},
	{"12345", "\x00\xc190\n\x00\x9d\x94\xea'\x93\xfc\b\xb9"},
	{"-5", "\x00\xc0\xfb\n\x00I\xc4\xc6\xf4\xd7&?h"},
	{strings.Repeat("x", 100), "\x00\xc3\t@d\x01xx\xe0W\x00\x01xx\n\x00]\xb7\xf6c\xbb\bb_"}, // LZF
}

func TestChecksum(t *testing.T) {
	// The check value of Redis's crc64 (src/crc64.c).
	if got := Checksum([]byte("123456789")); got != 0xe9c6d914c4b8d9ca {
		t.Fatalf("Checksum(123456789) = %#x", got)
	}
}

func TestDecodeRedisPayloads(t *testing.T) {
	for _, tc := range redisDumps {
		v, err := Decode([]byte(tc.dump), 1<<20)
		if err != nil || string(v) != tc.val {
			t.Errorf("Decode(%q) = %q, %v; want %q", tc.dump, v, err, tc.val)
		}
	}
	// Encode writes what Redis writes, but for values Redis compresses.
	for _, tc := range redisDumps[:3] {
		if got := Encode([]byte(tc.val)); string(got) != tc.dump {
			t.Errorf("Encode(%q) = %q, want %q", tc.val, got, tc.dump)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	vals := [][]byte{nil, []byte("0"), []byte("-0"), []byte("007"), []byte("127"), []byte("128"), []byte("-129"),
		[]byte("32767"), []byte("-32769"), []byte("2147483647"), []byte("2147483648"), []byte("-2147483648"),
		[]byte("12345678901"), []byte(" 1"), bytes.Repeat([]byte("ab"), 40), bytes.Repeat([]byte{0xff}, 20000)}
	for range 200 {
		v := make([]byte, rng.IntN(300))
		for i := range v {
			v[i] = byte(rng.IntN(4))
		}
		vals = append(vals, v)
	}
	for _, v := range vals {
		got, err := Decode(Encode(v), 1<<20)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("round trip of %q: %q, %v", v, got, err)
		}
	}
}

// seal appends a version and a valid checksum to body.
func seal(body []byte, version uint16) []byte {
	p := binary.LittleEndian.AppendUint16(append([]byte(nil), body...), version)
	return binary.LittleEndian.AppendUint64(p, Checksum(p))
}

func TestDecodeErrors(t *testing.T) {
	good := Encode([]byte("hello"))
	flipped := append([]byte(nil), good...)
	flipped[3] ^= 1
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrChecksum},
		{"short", good[:9], ErrChecksum},
		{"bit flip", flipped, ErrChecksum},
		{"newer version", seal([]byte("\x00\x05hello"), MaxVersion+1), ErrChecksum},
		{"no body", seal(nil, Version), ErrFormat},
		{"cut string", seal([]byte("\x00\x09hello"), Version), ErrFormat},
		{"bad length byte", seal([]byte("\x00\x82"), Version), ErrFormat},
		{"bad int encoding", seal([]byte("\x00\xc5\x01"), Version), ErrFormat},
		{"cut int", seal([]byte("\x00\xc2\x01\x02"), Version), ErrFormat},
		{"lzf too long", seal([]byte("\x00\xc3\x02\x03\x01ab"), Version), ErrFormat},
		{"lzf back-reference before start", seal([]byte("\x00\xc3\x02\x05\x20\x05"), Version), ErrFormat},
		{"over the length bound", seal(append([]byte("\x00\x40\x80"), make([]byte, 128)...), Version), ErrFormat},
	} {
		v, err := Decode(tc.p, 100)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode = %q, %v; want %v", tc.name, v, err, tc.want)
		}
	}
	var te TypeError
	if _, err := Decode(seal([]byte("\x01\x01\x01a"), Version), 100); !errors.As(err, &te) || te.Type != 1 {
		t.Errorf("a list payload: %v, want a TypeError for type 1", err)
	}
	// An older RDB version restores.
	if v, err := Decode(seal([]byte("\x00\x02hi"), 6), 100); err != nil || string(v) != "hi" {
		t.Errorf("RDB version 6: %q, %v", v, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range redisDumps {
		f.Add([]byte(tc.dump)[:len(tc.dump)-10])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Decode(seal(body, Version), 1<<16)
		if err == nil && len(v) > 1<<16 {
			t.Fatalf("decoded %d bytes past the bound", len(v))
		}
	})
}
