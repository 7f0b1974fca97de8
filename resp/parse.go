package resp

import "github.com/riot-kv/riot-redis/fsm"

// parseInt parses b as Redis's string2ll does (see fsm.ParseInt, which owns
// the rule so that arguments checked here and values parsed in the state
// machine agree). It does not allocate.
func parseInt(b []byte) (int64, bool) { return fsm.ParseInt(b) }

// equalFold reports whether b equals the lower-case ASCII word lower, ignoring
// case. It does not allocate.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
