package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Key namespaces of the durable engines. Every caller key is stored with the
// nsData prefix, engine metadata with nsMeta, so no caller key can collide with
// an internal one. The prefix is stripped again on read and iteration.
const (
	nsMeta byte = 0x00
	nsData byte = 0x01
)

// Metadata keys: bolt stores them as they are in its meta bucket, leveldb
// behind the nsMeta prefix.
var (
	metaLayout  = []byte{'v'} // uint32 big-endian layout version
	metaApplied = []byte{'a'} // uint64 big-endian applied index
)

// maxPooledKey bounds the key buffers kept in keyPool, so one huge key does not
// pin memory.
const maxPooledKey = 4 << 10

// keyBuf is a reusable buffer for building prefixed keys.
type keyBuf struct{ b []byte }

var keyPool = sync.Pool{New: func() any { return &keyBuf{b: make([]byte, 0, 64)} }}

// prefixed returns a pooled buffer holding ns followed by key. The caller
// returns it with putKeyBuf once the key is no longer referenced.
func prefixed(ns byte, key []byte) *keyBuf {
	kb := keyPool.Get().(*keyBuf)
	kb.b = append(append(kb.b[:0], ns), key...)
	return kb
}

func putKeyBuf(kb *keyBuf) {
	if cap(kb.b) <= maxPooledKey {
		keyPool.Put(kb)
	}
}

// dataKey returns key with the data namespace prefix, in a new slice.
func dataKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = nsData
	copy(k[1:], key)
	return k
}

// dataEnd converts an exclusive caller end bound to a prefixed one: nil means
// "to the end of the data namespace".
func dataEnd(end []byte) []byte {
	if end == nil {
		return []byte{nsData + 1}
	}
	return dataKey(end)
}

func encodeIndex(dst *[8]byte, idx uint64) []byte {
	binary.BigEndian.PutUint64(dst[:], idx)
	return dst[:]
}

func decodeIndex(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("storage: corrupt applied index (%d bytes)", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func encodeLayout(v uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, v)
}

// checkLayout validates a stored layout version: it fails with ErrNewerLayout
// when v is newer than LayoutVersion.
func checkLayout(v []byte, where string) error {
	if len(v) != 4 {
		return fmt.Errorf("storage: corrupt layout version in %s (%d bytes)", where, len(v))
	}
	if got := binary.BigEndian.Uint32(v); got > LayoutVersion {
		return fmt.Errorf("%w: %s has layout %d, this build supports up to %d",
			ErrNewerLayout, where, got, LayoutVersion)
	}
	return nil
}

// syncDir fsyncs a directory so that entries created, renamed or removed in it
// are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic replaces name with data: it writes a temporary file, fsyncs
// it, renames it over name and fsyncs the directory. Readers see either the old
// or the new content, also after a crash.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}
