//go:build moattest

package run

import (
	"os"
	"time"
)

// interruptGrace is StopGrace unless MOAT_TEST_INTERRUPT_GRACE (a Go
// duration) says otherwise: an end-to-end test makes it longer than the
// test may take, so that only a second Ctrl-C can end the command in
// time, whatever the machine's speed. Only binaries built with the
// moattest tag (e2e/ builds one) read the variable.
func interruptGrace() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MOAT_TEST_INTERRUPT_GRACE")); err == nil && d > 0 {
		return d
	}
	return StopGrace
}
