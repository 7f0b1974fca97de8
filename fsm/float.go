package fsm

import (
	"bytes"
	"math/big"
	"strings"
)

// INCRBYFLOAT computes like Redis on x86-64 Linux: values are C long doubles
// (the x87 80-bit extended format: a 64-bit significand, normal exponents
// from 2^-16382 to just below 2^16384, subnormals down to 2^-16445), parsed
// like glibc's strtold and printed with "%.17Lf" minus trailing zeros. Go has
// no such type, so a value is held as the exact rational number the long
// double stands for and every result is rounded to the format explicitly
// (round to nearest, ties to even). The arithmetic is pure integer math, so
// every replica computes the same bytes.

// Limits of the x87 extended format and of Redis's parsing.
const (
	ldMantBits   = 64
	ldMaxExp     = 16384  // |x| < 2^16384
	ldMinNormExp = -16381 // big.Float.MantExp of the smallest normal, 2^-16382
	ldSubnormal  = 16445  // subnormals are multiples of 2^-16445
	// maxLongDoubleChars is Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses
	// inputs of this length or more.
	maxLongDoubleChars = 5 * 1024
)

// ldStatus is the outcome of parsing or rounding a long double.
type ldStatus uint8

const (
	ldFinite ldStatus = iota
	ldPosInf
	ldNegInf
	ldInvalid // not a number Redis accepts (syntax, NaN, overflow, underflow to zero)
)

// ValidFloat reports whether b is a number INCRBYFLOAT accepts as an
// increment (infinities included: they fail later, when added).
func ValidFloat(b []byte) bool {
	_, st := parseLongDouble(b)
	return st != ldInvalid
}

// parseLongDouble parses b as Redis's string2ld does: strtold in the C locale
// must consume all of it (a NUL byte ends strtold's input early, so b must
// hold none), no leading space, and neither NaN nor a result that overflows
// or underflows to zero is accepted.
func parseLongDouble(b []byte) (*big.Rat, ldStatus) {
	if len(b) == 0 || len(b) >= maxLongDoubleChars || bytes.IndexByte(b, 0) >= 0 {
		return nil, ldInvalid
	}
	switch b[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return nil, ldInvalid
	}
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		b = b[1:]
	}
	lower := strings.ToLower(string(b[:min(len(b), 8)]))
	switch {
	case lower == "inf" || lower == "infinity":
		if neg {
			return nil, ldNegInf
		}
		return nil, ldPosInf
	case strings.HasPrefix(lower, "inf") || strings.HasPrefix(lower, "nan"):
		// "nan..." is NaN or NaN followed by garbage; "inf..." is an
		// infinity followed by garbage.
		return nil, ldInvalid
	}
	var (
		r  *big.Rat
		ok bool
	)
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		r, ok = parseHexFloat(b[2:])
	} else {
		r, ok = parseDecFloat(b)
	}
	if !ok {
		return nil, ldInvalid
	}
	if r.Sign() == 0 {
		return r, ldFinite
	}
	v, st := roundLongDouble(r)
	if st != ldFinite || v.Sign() == 0 {
		// Overflow (HUGE_VALL) and underflow to zero set ERANGE: refused.
		return nil, ldInvalid
	}
	if neg {
		v.Neg(v)
	}
	return v, ldFinite
}

// scanDigits returns the mantissa digits of b (radix point removed), how many
// of them follow the point, and the rest of b. isDigit selects the base.
func scanDigits(b []byte, isDigit func(byte) bool) (digits []byte, frac int, rest []byte) {
	point := false
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case isDigit(c):
			digits = append(digits, c)
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			return digits, frac, b[i:]
		}
	}
	return digits, frac, b[i:]
}

// scanExponent parses an exponent after its marker: an optional sign and at
// least one decimal digit, filling all of b. Huge exponents saturate, which
// keeps the result (an overflow or an underflow) the same.
func scanExponent(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var e int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if e < 1<<40 {
			e = e*10 + int64(c-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

func isDecDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseDecFloat parses an unsigned decimal number (digits, an optional point,
// an optional exponent) that must fill b, exactly.
func parseDecFloat(b []byte) (*big.Rat, bool) {
	digits, frac, rest := scanDigits(b, isDecDigit)
	if len(digits) == 0 {
		return nil, false
	}
	var exp int64
	if len(rest) > 0 {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false
		}
		var ok bool
		if exp, ok = scanExponent(rest[1:]); !ok {
			return nil, false
		}
	}
	digits = bytes.TrimLeft(digits, "0")
	if len(digits) == 0 {
		return new(big.Rat), true
	}
	exp -= int64(frac)
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	// The value lies in [10^(n-1+exp), 10^(n+exp)). Far outside the format's
	// range the answer is known without big numbers: 10^4933 overflows, and
	// anything below 10^-4951 is less than half the smallest subnormal.
	n := int64(len(digits))
	switch {
	case n-1+exp > 4933:
		return new(big.Rat).SetInt(pow(10, 4934)), true
	case n+exp < -4951:
		return new(big.Rat).SetFrac(big.NewInt(1), pow(10, 4952)), true
	}
	m, _ := new(big.Int).SetString(string(digits), 10)
	if exp >= 0 {
		return new(big.Rat).SetInt(m.Mul(m, pow(10, exp))), true
	}
	return new(big.Rat).SetFrac(m, pow(10, -exp)), true
}

// parseHexFloat parses the part after "0x" of a hexadecimal float: hex digits
// with an optional point, then an optional binary exponent "p[sign]digits".
func parseHexFloat(b []byte) (*big.Rat, bool) {
	digits, frac, rest := scanDigits(b, isHexDigit)
	if len(digits) == 0 {
		return nil, false
	}
	var exp int64
	if len(rest) > 0 {
		if rest[0] != 'p' && rest[0] != 'P' {
			return nil, false
		}
		var ok bool
		if exp, ok = scanExponent(rest[1:]); !ok {
			return nil, false
		}
	}
	m, _ := new(big.Int).SetString(string(digits), 16)
	if m.Sign() == 0 {
		return new(big.Rat), true
	}
	exp -= 4 * int64(frac)
	bits := int64(m.BitLen())
	switch {
	case bits-1+exp >= ldMaxExp:
		return new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), ldMaxExp+1)), true
	case bits+exp < -ldSubnormal-1:
		return new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), ldSubnormal+2)), true
	}
	if exp >= 0 {
		return new(big.Rat).SetInt(m.Lsh(m, uint(exp))), true
	}
	return new(big.Rat).SetFrac(m, new(big.Int).Lsh(big.NewInt(1), uint(-exp))), true
}

// pow returns base^exp for exp >= 0.
func pow(base, exp int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(base), big.NewInt(exp), nil)
}

// roundLongDouble rounds r to the nearest long double, ties to even. It
// reports an infinity when the result overflows; a result that underflows
// is zero.
func roundLongDouble(r *big.Rat) (*big.Rat, ldStatus) {
	if r.Sign() == 0 {
		return new(big.Rat), ldFinite
	}
	f := new(big.Float).SetPrec(ldMantBits).SetMode(big.ToNearestEven).SetRat(r)
	exp := f.MantExp(nil)
	if exp > ldMaxExp {
		if r.Sign() < 0 {
			return nil, ldNegInf
		}
		return nil, ldPosInf
	}
	if exp >= ldMinNormExp {
		v, _ := f.Rat(nil)
		return v, ldFinite
	}
	// Subnormal: round r * 2^16445 to an integer, ties to even.
	num := new(big.Int).Lsh(new(big.Int).Abs(r.Num()), ldSubnormal)
	q, rem := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	switch c := new(big.Int).Lsh(rem, 1).Cmp(r.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return new(big.Rat).SetFrac(q, new(big.Int).Lsh(big.NewInt(1), ldSubnormal)), ldFinite
}

// incrByFloat adds the long doubles Redis would parse from value and incr
// and formats the sum as Redis stores it. errText is Redis's error, if any.
func incrByFloat(value, incr []byte) (out []byte, errText string) {
	v, vst := parseLongDouble(value)
	if vst == ldInvalid {
		return nil, ErrTextNotFloat
	}
	d, dst := parseLongDouble(incr)
	if dst == ldInvalid {
		return nil, ErrTextNotFloat
	}
	if vst != ldFinite || dst != ldFinite {
		return nil, ErrTextNaNOrInfinity // inf+x is inf, inf-inf is NaN
	}
	sum, st := roundLongDouble(new(big.Rat).Add(v, d))
	if st != ldFinite {
		return nil, ErrTextNaNOrInfinity
	}
	return formatLongDouble(sum), ""
}

// formatLongDouble prints a long double as Redis's ld2string in human mode:
// "%.17Lf" (the exact decimal value rounded to 17 fractional digits, ties to
// even), then trailing zeros and a trailing point removed, and "-0" as "0".
func formatLongDouble(v *big.Rat) []byte {
	f := new(big.Float).SetPrec(ldMantBits).SetRat(v) // exact: v has at most 64 significant bits
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return []byte(s)
}
