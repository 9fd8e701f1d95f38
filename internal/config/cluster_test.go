package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadGlobalCluster(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	tests := []struct {
		yaml    string
		want    Global
		wantErr string
	}{
		{yaml: "runtime: kubernetes\nregistry: 127.0.0.1:5000/moat\nkubernetes:\n  kubeconfig: ~/.kube/lab\n  context: lab/admin\n  namespace: agents\n",
			want: Global{Runtime: RuntimeKubernetes, Registry: "127.0.0.1:5000/moat",
				Kubernetes: Kubernetes{Kubeconfig: "~/.kube/lab", Context: "lab/admin", Namespace: "agents"}}},
		{yaml: "runtime: docker\n", want: Global{Runtime: RuntimeDocker}},
		{yaml: "registry: registry.example.com\n", want: Global{Registry: "registry.example.com"}},
		{yaml: "registry: localhost:5000\n", want: Global{Registry: "localhost:5000"}},
		{yaml: "registry: docker.io/someone\n", want: Global{Registry: "docker.io/someone"}},
		{yaml: "kubernetes: {kubeconfig: /etc/k.yaml}\n", want: Global{Kubernetes: Kubernetes{Kubeconfig: "/etc/k.yaml"}}},
		{yaml: "kubernetes:\n", want: Global{}},

		{yaml: "runtime: k8s\n", wantErr: `config.yaml:1:10: runtime: unknown value "k8s"`},
		{yaml: "runtime: [docker]\n", wantErr: `config.yaml:1:10: runtime: expected a string, got a list`},
		{yaml: "registry: https://registry.example.com\n",
			wantErr: `config.yaml:1:11: registry: "https://registry.example.com" has a scheme`},
		{yaml: "registry: registry.example.com/moat:v1\n",
			wantErr: `config.yaml:1:11: registry: "registry.example.com/moat:v1" names a tag or digest`},
		{yaml: "registry: \"registry.example.com/moat@sha256:abc\"\n",
			wantErr: `config.yaml:1:11: registry: "registry.example.com/moat@sha256:abc" names a tag or digest`},
		{yaml: "registry: someone/moat\n",
			wantErr: `config.yaml:1:11: registry: "someone/moat" does not start with a registry host, so Docker would read it as a Docker Hub account`},
		{yaml: "registry: registry.example.com/Moat\n",
			wantErr: `config.yaml:1:11: registry: "registry.example.com/Moat" is not a registry address`},
		{yaml: "registry: \"reg istry:5000\"\n", wantErr: `config.yaml:1:11: registry: "reg istry:5000" is not a registry address`},
		{yaml: "kubernetes: lab\n", wantErr: `config.yaml:1:13: kubernetes: expected a mapping, got a string`},
		{yaml: "kubernetes:\n  namspace: agents\n", wantErr: `config.yaml:2:3: unknown kubernetes setting "namspace"`},
		{yaml: "kubernetes:\n  context: a\n  context: b\n", wantErr: `config.yaml:3:3: duplicate kubernetes setting "context" (first at 2:3)`},
		{yaml: "kubernetes:\n  context: \"\"\n", wantErr: `config.yaml:2:12: kubernetes.context: empty`},
		{yaml: "kubernetes:\n  namespace: Agents\n", wantErr: `config.yaml:2:14: kubernetes.namespace: "Agents" is not a namespace name`},
		{yaml: "kubernetes:\n  namespace: a/b\n", wantErr: `config.yaml:2:14: kubernetes.namespace: "a/b" is not a namespace name`},
		{yaml: "kubernetes:\n  kubeconfig: .kube/config\n", wantErr: `config.yaml:2:15: kubernetes.kubeconfig: ".kube/config" is a relative path`},
	}
	for _, tt := range tests {
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := LoadGlobal(path)
		if tt.wantErr != "" {
			if err == nil || err.Error() != dir+"/"+tt.wantErr {
				t.Errorf("%q: got error %v, want %s", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		tt.want.Path = path
		if err != nil || *g != tt.want {
			t.Errorf("%q: got %+v, %v, want %+v", tt.yaml, g, err, tt.want)
		}
	}
}

func TestNamespaceValid(t *testing.T) {
	for s, want := range map[string]bool{"default": true, "a-1": true, "": false, "-a": false, "a-": false, "a.b": false,
		string(make([]byte, 64)): false, "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc": true} {
		if got := NamespaceValid(s); got != want {
			t.Errorf("NamespaceValid(%q) = %v, want %v", s, got, want)
		}
	}
}
