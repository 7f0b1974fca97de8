// Package rdb encodes and decodes the payload of Redis's DUMP and RESTORE
// for string values: the value in RDB's string encoding, then the RDB
// version (2 bytes, little-endian) and a CRC-64 (Jones polynomial, 8 bytes,
// little-endian) of everything before it.
//
// Encode writes integers that fit in 32 bits in RDB's integer encodings and
// everything else as a plain length-prefixed string (never LZF-compressed),
// with RDB version 10, so that Redis 7.0 and later restore it. Decode reads
// every string encoding Redis writes, LZF included, from payloads of RDB
// version 12 or older (Redis 7.4's; the string encoding has not changed).
package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"strconv"
)

// Version is the RDB version Encode writes (Redis 7.0's).
const Version = 10

// MaxVersion is the newest RDB version Decode accepts.
const MaxVersion = 12

const typeString = 0 // RDB_TYPE_STRING

// Errors of Decode.
var (
	// ErrChecksum is a payload too short for its footer, of a newer RDB
	// version, or whose CRC does not match: Redis answers "ERR DUMP
	// payload version or checksum are wrong".
	ErrChecksum = errors.New("rdb: DUMP payload version or checksum are wrong")
	// ErrFormat is a payload whose body does not decode: "ERR Bad data
	// format".
	ErrFormat = errors.New("rdb: bad data format")
)

// TypeError is a well-formed payload of a value other than a string.
type TypeError struct{ Type byte }

func (e TypeError) Error() string {
	return fmt.Sprintf("rdb: DUMP payload of RDB type %d; only strings (type 0) can be restored", e.Type)
}

// The CRC-64 Redis uses: Jones polynomial, reflected, initial value 0, no
// final inversion (Go's crc64 inverts on the way in and out, so the
// checksum is computed from an inverted start and inverted back).
var jones = crc64.MakeTable(0x95ac9329ac4bc9b5)

// Checksum returns Redis's CRC-64 of p.
func Checksum(p []byte) uint64 { return ^crc64.Update(^uint64(0), jones, p) }

// Encode returns the DUMP payload of the string value v.
func Encode(v []byte) []byte {
	out := make([]byte, 0, len(v)+16)
	out = append(out, typeString)
	out = appendString(out, v)
	out = binary.LittleEndian.AppendUint16(out, Version)
	return binary.LittleEndian.AppendUint64(out, Checksum(out))
}

// appendString appends v in RDB's string encoding: as an integer when v is
// the canonical decimal form of one that fits in 32 bits, else its length
// and bytes.
func appendString(out, v []byte) []byte {
	if len(v) <= 11 {
		if n, err := strconv.ParseInt(string(v), 10, 32); err == nil && strconv.FormatInt(n, 10) == string(v) {
			switch {
			case n >= -1<<7 && n < 1<<7:
				return append(out, 0xc0, byte(n))
			case n >= -1<<15 && n < 1<<15:
				return binary.LittleEndian.AppendUint16(append(out, 0xc1), uint16(n))
			default:
				return binary.LittleEndian.AppendUint32(append(out, 0xc2), uint32(n))
			}
		}
	}
	return append(appendLen(out, uint64(len(v))), v...)
}

// appendLen appends n in RDB's length encoding.
func appendLen(out []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(out, byte(n))
	case n < 1<<14:
		return append(out, 0x40|byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(out, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(out, 0x81), n)
}

// Decode returns the string value of a DUMP payload. maxLen bounds the
// value's length (a larger one is ErrFormat).
func Decode(p []byte, maxLen int) ([]byte, error) {
	if len(p) < 10 {
		return nil, ErrChecksum
	}
	body, footer := p[:len(p)-10], p[len(p)-10:]
	if binary.LittleEndian.Uint16(footer) > MaxVersion ||
		binary.LittleEndian.Uint64(footer[2:]) != Checksum(p[:len(p)-8]) {
		return nil, ErrChecksum
	}
	if len(body) == 0 {
		return nil, ErrFormat
	}
	if body[0] != typeString {
		return nil, TypeError{Type: body[0]}
	}
	r := reader{b: body[1:]}
	v, ok := r.string(maxLen)
	if !ok {
		return nil, ErrFormat
	}
	return v, nil
}

// reader reads RDB encodings from b.
type reader struct{ b []byte }

func (r *reader) next(n uint64) ([]byte, bool) {
	if n > uint64(len(r.b)) {
		return nil, false
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, true
}

// length reads a length, or (enc set) the encoding of a special string.
func (r *reader) length() (n uint64, enc bool, ok bool) {
	b, ok := r.next(1)
	if !ok {
		return 0, false, false
	}
	switch b[0] >> 6 {
	case 0:
		return uint64(b[0] & 0x3f), false, true
	case 1:
		c, ok := r.next(1)
		if !ok {
			return 0, false, false
		}
		return uint64(b[0]&0x3f)<<8 | uint64(c[0]), false, true
	case 3:
		return uint64(b[0] & 0x3f), true, true
	}
	switch b[0] {
	case 0x80:
		c, ok := r.next(4)
		if !ok {
			return 0, false, false
		}
		return uint64(binary.BigEndian.Uint32(c)), false, true
	case 0x81:
		c, ok := r.next(8)
		if !ok {
			return 0, false, false
		}
		return binary.BigEndian.Uint64(c), false, true
	}
	return 0, false, false
}

func (r *reader) string(maxLen int) ([]byte, bool) {
	n, enc, ok := r.length()
	if !ok {
		return nil, false
	}
	if !enc {
		if n > uint64(maxLen) {
			return nil, false
		}
		v, ok := r.next(n)
		return append([]byte(nil), v...), ok
	}
	switch n {
	case 0, 1, 2: // 8, 16 and 32-bit integers, little-endian
		c, ok := r.next(1 << n)
		if !ok {
			return nil, false
		}
		var x int64
		switch n {
		case 0:
			x = int64(int8(c[0]))
		case 1:
			x = int64(int16(binary.LittleEndian.Uint16(c)))
		default:
			x = int64(int32(binary.LittleEndian.Uint32(c)))
		}
		return strconv.AppendInt(nil, x, 10), true
	case 3: // LZF: compressed length, length, compressed bytes
		clen, e1, ok1 := r.length()
		ulen, e2, ok2 := r.length()
		if !ok1 || !ok2 || e1 || e2 || ulen > uint64(maxLen) {
			return nil, false
		}
		c, ok := r.next(clen)
		if !ok {
			return nil, false
		}
		return lzfDecompress(c, int(ulen))
	}
	return nil, false
}

// lzfDecompress expands LZF data into exactly n bytes: a control byte below
// 32 starts a run of control+1 literal bytes; any other is a back-reference
// of (control>>5)+2 bytes (7 means a further length byte follows) at a
// distance of ((control&31)<<8 | next byte)+1.
func lzfDecompress(in []byte, n int) ([]byte, bool) {
	out := make([]byte, 0, n)
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 {
			run := ctrl + 1
			if i+run > len(in) || len(out)+run > n {
				return nil, false
			}
			out = append(out, in[i:i+run]...)
			i += run
			continue
		}
		length := ctrl >> 5
		if length == 7 {
			if i >= len(in) {
				return nil, false
			}
			length += int(in[i])
			i++
		}
		length += 2
		if i >= len(in) {
			return nil, false
		}
		back := (ctrl&0x1f)<<8 | int(in[i])
		i++
		from := len(out) - back - 1
		if from < 0 || len(out)+length > n {
			return nil, false
		}
		for j := 0; j < length; j++ { // byte by byte: the copy may overlap
			out = append(out, out[from+j])
		}
	}
	return out, len(out) == n
}
