// Package plural writes counts in English for moat's messages: "1 run",
// "2 runs", "1 entry", "3 entries". Every count moat prints goes through
// it, so no message reads "1 signed checkpoints" or "arg(s)".
package plural

import "strconv"

// Integer is the type of a count: an int, or a size in an int64.
type Integer interface {
	~int | ~int32 | ~int64 | ~uint | ~uint32 | ~uint64
}

// Count is n and the noun, singular for exactly one: Count(1, "run") is
// "1 run", Count(0, "run") "0 runs". A noun whose plural is not the
// singular and "s" gives it: Count(2, "entry", "entries").
func Count[N Integer](n N, singular string, pluralForm ...string) string {
	var digits string
	if n < 0 {
		digits = strconv.FormatInt(int64(n), 10)
	} else {
		digits = strconv.FormatUint(uint64(n), 10)
	}
	return digits + " " + Noun(n, singular, pluralForm...)
}

// Noun is the noun alone in the form n takes.
func Noun[N Integer](n N, singular string, pluralForm ...string) string {
	if n == 1 {
		return singular
	}
	if len(pluralForm) > 0 {
		return pluralForm[0]
	}
	return singular + "s"
}
