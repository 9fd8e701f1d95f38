//go:build !moattest

package router

import "time"

// idleAfter is how long a background router waits, once no active run
// publishes a port, before it exits: defaultIdle in the binary users run
// (testhook_idle.go has the test hook).
func idleAfter() time.Duration { return defaultIdle }
