package kube

import "testing"

func TestIDRoundTrip(t *testing.T) {
	for _, id := range []ID{
		{Context: "", Namespace: "default", Pod: "moat-abc"},
		{Context: "arn:aws:eks:eu-west-1:1:cluster/prod", Namespace: "agents", Pod: "moat-abc-proxy"},
	} {
		got, err := ParseID(id.String())
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v", id.String(), got, err, id)
		}
		if !IsID(id.String()) {
			t.Errorf("IsID(%q) = false", id.String())
		}
	}
	for _, bad := range []string{"", "abc123", "k8s:", "k8s:ctx/ns", "k8s:ctx//pod", "k8s:%zz/ns/pod", "k8s:a/b/c/d"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}
