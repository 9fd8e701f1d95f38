// Package plural writes counts in English for moat's messages: "1 run",
// "2 runs", "1 entry", "3 entries". Every count moat prints goes through
// it, so no message reads "1 signed checkpoints" or "arg(s)".
package plural

import "strconv"

// Count is n and the noun, singular for exactly one: Count(1, "run") is
// "1 run", Count(0, "run") "0 runs". A noun whose plural is not the
// singular and "s" gives it: Count(2, "entry", "entries").
func Count(n int, singular string, pluralForm ...string) string {
	return strconv.Itoa(n) + " " + Noun(n, singular, pluralForm...)
}

// Noun is the noun alone in the form n takes.
func Noun(n int, singular string, pluralForm ...string) string {
	if n == 1 {
		return singular
	}
	if len(pluralForm) > 0 {
		return pluralForm[0]
	}
	return singular + "s"
}
