package kube

import (
	"errors"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/runtime"
)

// TestRegistryErrorHint: a failed push keeps the push's own remedy (a
// login, a registry that fails); without a push the hint says how to set
// a registry.
func TestRegistryErrorHint(t *testing.T) {
	push := &runtime.PushError{Ref: "r:1", Registry: "reg.test", Err: errors.New("received unexpected HTTP status: 500 Internal Server Error")}
	failed := &RegistryError{Reason: "pushing r:1 to reg.test/moat: " + push.Error(), Err: push}
	if got := failed.Hint(); got != push.Hint() {
		t.Errorf("a failed push's hint is %q, want the push's %q", got, push.Hint())
	}
	if !errors.Is(failed, push) {
		t.Error("the push's error is not kept")
	}
	unset := &RegistryError{Reason: "no registry is set"}
	if got := unset.Hint(); !strings.Contains(got, "Set registry: in ~/.moat/config.yaml") {
		t.Errorf("no registry: hint %q", got)
	}
}
