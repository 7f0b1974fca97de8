package fsm

// globMatch reports whether s matches the glob pattern as Redis's
// stringmatchlen (case-sensitive) decides it, quirks included:
//
//   - '*' matches any run of bytes, '?' any one byte;
//   - '[abc]', '[^abc]', ranges '[a-z]' (reversed ends are swapped, ends
//     compare as signed chars), '\x' inside a class is a literal x, an
//     unterminated class ends with the pattern;
//   - '\x' outside a class is a literal x (a trailing '\' is literal);
//   - a run of '*' that cannot match anywhere stops the search early, which
//     bounds the work on hostile patterns.
func globMatch(pattern, s []byte) bool {
	skip := false
	return globMatchFrom(pattern, s, &skip, 0)
}

// maxGlobNesting bounds the recursion on '*', as Redis does.
const maxGlobNesting = 1000

// at returns b[i], or 0 past the end (C strings end with a NUL, and Redis
// reads one byte past the pattern in places).
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

func globMatchFrom(p, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > maxGlobNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && at(p, 1) == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchFrom(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := at(p, 0) == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if at(p, 0) == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if at(p, 0) == ']' {
					break
				} else if len(p) == 0 {
					// Unterminated class: step back so the advance below
					// lands on the end of the pattern.
					p = p[:0:0]
					goto classDone
				} else if len(p) >= 3 && p[1] == '-' {
					lo, hi := int8(p[0]), int8(p[2])
					if lo > hi {
						lo, hi = hi, lo
					}
					if c := int8(s[0]); c >= lo && c <= hi {
						match = true
					}
					p = p[2:]
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
		classDone:
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if len(p) == 0 {
				// The class ran to the end of the pattern.
				if len(s) == 0 {
					return true
				}
				return false
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
