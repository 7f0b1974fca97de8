package resp

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/riot-kv/riot-redis/resp/resptest"
)

var update = flag.Bool("update", false, "rewrite the expected replies in testdata/*.txt")

// TestTranscripts runs every golden transcript against a fresh server.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s := mustServer(t, mustNode(t), Config{})
			resptest.RunTranscript(t, s.Addr(), f, *update)
		})
	}
}
