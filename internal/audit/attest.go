package audit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/termtext"
)

// AttestationNote describes an egress.attested entry for people, on one
// line: 'moat audit' prints it. The run's proxy wrote it, so it is shown
// as text only.
func AttestationNote(e Entry) string {
	d := e.Data
	if d[AttestResult] != AttestPassed {
		return termtext.Field(fmt.Sprintf("FAILED at %s: %s", d[AttestFailedCheck], d[AttestReason]))
	}
	var checks []string
	for k, v := range d {
		if name, ok := strings.CutPrefix(k, AttestCheckPrefix); ok {
			checks = append(checks, name+" "+strings.SplitN(v, ":", 2)[0])
		}
	}
	slices.Sort(checks)
	us, _ := strconv.ParseInt(d[AttestDurationUS], 10, 64)
	return termtext.Field(fmt.Sprintf("passed in %.1f ms (%s)", float64(us)/1000, strings.Join(checks, ", ")))
}
