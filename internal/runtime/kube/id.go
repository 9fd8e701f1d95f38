package kube

import (
	"fmt"
	"net/url"
	"strings"
)

// IDPrefix starts every container ID this adapter returns: the orchestrator
// keeps IDs opaque, and the CLI's router sends an ID with this prefix to
// the cluster it names.
const IDPrefix = "k8s:"

// ID names a pod moat created: where it is and what it is called.
type ID struct {
	Context   string // the kubeconfig context ("" is the kubeconfig's current one)
	Namespace string
	Pod       string
}

// String is the ID the orchestrator keeps: k8s:CONTEXT/NAMESPACE/POD, the
// context path-escaped (it may hold slashes).
func (id ID) String() string {
	return IDPrefix + url.PathEscape(id.Context) + "/" + id.Namespace + "/" + id.Pod
}

// IsID reports whether s is an ID of this adapter.
func IsID(s string) bool { return strings.HasPrefix(s, IDPrefix) }

// ParseID reads an ID String made.
func ParseID(s string) (ID, error) {
	rest, ok := strings.CutPrefix(s, IDPrefix)
	if !ok {
		return ID{}, fmt.Errorf("%q is not a Kubernetes container ID", s)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return ID{}, fmt.Errorf("%q is not a Kubernetes container ID (want %sCONTEXT/NAMESPACE/POD)", s, IDPrefix)
	}
	ctxName, err := url.PathUnescape(parts[0])
	if err != nil {
		return ID{}, fmt.Errorf("%q is not a Kubernetes container ID: %w", s, err)
	}
	return ID{Context: ctxName, Namespace: parts[1], Pod: parts[2]}, nil
}
