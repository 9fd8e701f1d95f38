//go:build moattest

package router

import (
	"os"
	"time"
)

// idleAfter is defaultIdle unless MOAT_TEST_ROUTER_IDLE (a Go duration)
// says otherwise: an end-to-end test shortens it to see the background
// router exit. Only binaries built with the moattest tag (e2e/ builds
// one) read the variable.
func idleAfter() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MOAT_TEST_ROUTER_IDLE")); err == nil && d > 0 {
		return d
	}
	return defaultIdle
}
