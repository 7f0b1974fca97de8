package resp

import (
	"strings"
	"testing"
)

// TestGuardScan feeds request streams to the guard whole and split at every
// byte, and checks that the verdict and the offset of a violation are the same
// however the bytes arrive.
func TestGuardScan(t *testing.T) {
	const maxBulk = 8
	tests := []struct {
		name    string
		stream  string
		wantErr error // nil: valid
		wantAt  int   // offset of the violation
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", nil, 0},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", nil, 0},
		{"inline", "PING\r\nSET a b\n", nil, 0},
		{"empty lines", "\r\n\n*1\r\n$4\r\nPING\r\n", nil, 0},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", nil, 0},
		{"bulk at the limit", "*2\r\n$4\r\nECHO\r\n$8\r\n12345678\r\n", nil, 0},
		{"bulk over the limit", "*2\r\n$4\r\nECHO\r\n$9\r\n123456789\r\n", errInvalidBulkLength, 15},
		{"long bulk length", "*1\r\n$00000000000000000000001\r\n", nil, 0},
		{"negative bulk length", "*1\r\n$-1\r\n", errInvalidBulkLength, 5},
		{"bulk length without digits", "*1\r\n$\r\n", errInvalidBulkLength, 5},
		{"bulk length without CR", "*1\r\n$1\n", errInvalidBulkLength, 6},
		{"bulk without CRLF", "*1\r\n$4\r\nPINGxx", errInvalidBulkLength, 12},
		{"bulk with CR only", "*1\r\n$4\r\nPING\rx", errInvalidBulkLength, 13},
		{"not a bulk", "*1\r\n:1\r\n", &protocolError{"expected '$', got ':'"}, 4},
		{"count zero", "*0\r\n", errInvalidMultibulkLength, 3},
		{"count negative", "*-1\r\n", errInvalidMultibulkLength, 1},
		{"count without digits", "*\r\n", errInvalidMultibulkLength, 1},
		{"count too large", "*2147483648\r\n", errInvalidMultibulkLength, 10},
		{"count at the limit", "*2147483647\r\n", nil, 0},
		{"inline at the limit", strings.Repeat("a", maxInlineSize) + "\n", nil, 0},
		{"inline over the limit", strings.Repeat("a", maxInlineSize+1) + "\n", errTooBigInline, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			whole := protoGuard{maxBulk: maxBulk}
			at, err := whole.scan([]byte(tc.stream))
			if !sameErr(err, tc.wantErr) {
				t.Fatalf("whole: error %v, want %v", err, tc.wantErr)
			}
			if err != nil && tc.wantAt >= 0 && at != tc.wantAt {
				t.Fatalf("whole: violation at %d, want %d", at, tc.wantAt)
			}
			if err == nil && at != len(tc.stream) {
				t.Fatalf("whole: scanned %d of %d bytes", at, len(tc.stream))
			}
			if len(tc.stream) > 1024 {
				return // splitting at every byte is quadratic
			}
			for split := 1; split < len(tc.stream); split++ {
				g := protoGuard{maxBulk: maxBulk}
				k, err := g.scan([]byte(tc.stream[:split]))
				if err == nil {
					var k2 int
					k2, err = g.scan([]byte(tc.stream[split:]))
					k = split + k2
				}
				if !sameErr(err, tc.wantErr) {
					t.Fatalf("split at %d: error %v, want %v", split, err, tc.wantErr)
				}
				if err != nil && k != at {
					t.Fatalf("split at %d: violation at %d, want %d", split, k, at)
				}
			}
		})
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}
