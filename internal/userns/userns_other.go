//go:build !linux

package userns

import (
	"errors"
	"runtime"
)

// Run fails: user namespaces are Linux's (moat-init runs it only in a
// Linux container, from a Linux build of moat).
func Run(o Options, argv []string) (int, error) {
	return 125, errors.New("user namespaces are not available on " + runtime.GOOS)
}

// FromRoot fails, like Run.
func FromRoot(o Options, argv []string) (int, error) {
	return 125, errors.New("user namespaces are not available on " + runtime.GOOS)
}
