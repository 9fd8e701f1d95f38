package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/runtime"
)

// TestClusterRefusesSSHGrants: the cluster says, in its own terms and
// before asking the API server anything, that it cannot carry ssh grants.
func TestClusterRefusesSSHGrants(t *testing.T) {
	err := (&Engine{}).RefuseFeature(context.Background(), "ssh grants")
	var unsupported *runtime.UnsupportedError
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Hint(), "--runtime docker") {
		t.Fatalf("got %v, want an UnsupportedError pointing to --runtime docker", err)
	}
}
