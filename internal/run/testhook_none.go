//go:build !moattest

package run

// dindTestArgs is empty in the binary users run: its test hook is
// compiled in only with the moattest build tag (testhook_dind.go).
func dindTestArgs() string { return "" }
