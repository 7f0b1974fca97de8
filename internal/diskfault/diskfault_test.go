package diskfault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("abcdefgh"), 0o644); err != nil {
		t.Fatal(err)
	}
	Zero(t, path, 2, 5)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("ab\x00\x00\x00fgh"); !bytes.Equal(got, want) {
		t.Fatalf("after Zero(2, 5): %q, want %q", got, want)
	}
}
