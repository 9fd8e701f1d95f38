//go:build !moattest

package run

import "time"

// dindTestArgs is empty in the binary users run: its test hook is
// compiled in only with the moattest build tag (testhook_dind.go).
func dindTestArgs() string { return "" }

// interruptGrace is how long an interrupted attached run's command gets
// before it is killed: StopGrace in the binary users run
// (testhook_stop.go has the test hook).
func interruptGrace() time.Duration { return StopGrace }
