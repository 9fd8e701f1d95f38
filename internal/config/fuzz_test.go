package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/moatsh/moat/internal/deps"
	"github.com/moatsh/moat/internal/policy"
)

// FuzzParse checks that Parse never panics, that every error it returns is
// an *Error with a position, that the typed values it makes are what their
// text means, and that what it accepts survives a round trip through JSON
// (which is YAML) with the same digest. The seed
// corpus is in testdata/fuzz/FuzzParse, plus the seeds added here.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"network:\n  policy: strict\n  allow:\n    - api.example.com\n    - \"*.githubusercontent.com\"\n" +
			"    - example.org:8443\n    - 10.1.2.0/24\n  hosts:\n    api.test: 172.17.0.1\n  ca: certs/ca.pem\ngrants: [github, my-api]\n",
		"network: {policy: none, allow: [*.a.com, a.com, A.com.], hosts: {'*.x': '::1', b: nope}, ca: ~x}\ngrants: GitHub, github\n",
		"dependencies: [docker:dind]\ndocker: {cache: true, ready_timeout: 1.5s, install: docker}\n",
		"resources: {memory: 1.5g, cpus: 0.25, pids: 512}\n",
		"resources:\n  memory: 512MiB\n  cpus: 2\n  pids:\n",
		"resources: {memory: 99999999t, cpus: .5, pids: 0x40, memroy: 1}\n",
		"network:\n  allow:\n    - host: api.github.com\n      methods: [GET, HEAD]\n      paths: [\"/repos/org/repo/**\", /user]\n" +
			"    - {host: registry.npmjs.org, read-only: true}\n    - {host: '*.x.org', paths: ['/a/*/b', /c/], methods: [get]}\n",
		"network: {allow: [{host: a.com, read-only: false}, {host: b.com, methods: [], mehtods: [PUT]}, {paths: [a]}]}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("agent.yaml", data)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		checkTyped(t, c)
		again, err := Parse("agent.yaml", toJSON(t, c))
		if err != nil {
			t.Fatalf("re-parsing %q as %s: %v", data, toJSON(t, c), err)
		}
		if !sameConfig(c, again) || c.Digest() != again.Digest() {
			t.Fatalf("round trip of %q: got %#v, want %#v", data, again, c)
		}
	})
}

// checkTyped checks that the typed values of c are what their text means
// to the packages that own it.
func checkTyped(t *testing.T, c *Config) {
	t.Helper()
	for _, r := range c.Network.Allow {
		want, err := policy.ParseRule(r.Text, policy.SourceAllow)
		if req := r.Rule.Requests; err == nil && req != nil {
			want.Requests, err = policy.ParseRequests(req.Methods, req.PathStrings(), req.Line)
		}
		if err != nil || !reflect.DeepEqual(r.Rule, want) {
			t.Fatalf("allow %q: got %+v, want %+v (%v)", r.Text, r.Rule, want, err)
		}
	}
	for _, h := range c.Network.Hosts {
		host, addr, err := policy.ParseHostMapping(h.Name, h.Address)
		if err != nil || h.Host != host || h.Addr != addr {
			t.Fatalf("hosts %q: %q: got %q %v, want %q %v (%v)", h.Name, h.Address, h.Host, h.Addr, host, addr, err)
		}
	}
	if c.DependencySpecs == nil {
		return
	}
	want, err := deps.Resolve(c.DependencySpecs)
	want = deps.WithDockerSource(want, deps.DockerSource(c.Docker.Install))
	if err != nil || !reflect.DeepEqual(c.Dependencies, want) {
		t.Fatalf("dependencies %q: got %+v, want %+v (%v)", c.DependencySpecs, c.Dependencies, want, err)
	}
}

func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if e.File != "agent.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" {
		t.Fatalf("error without a position or message: %#v", e)
	}
}

// toJSON writes c back as agent.yaml in JSON syntax.
func toJSON(t *testing.T, c *Config) []byte {
	t.Helper()
	doc := map[string]any{}
	if c.Name != "" {
		doc["name"] = c.Name
	}
	if c.DependencySpecs != nil {
		doc["dependencies"] = c.DependencySpecs
	}
	if c.Env != nil {
		doc["env"] = c.Env
	}
	if c.Mounts != nil {
		specs := make([]string, len(c.Mounts))
		for i, m := range c.Mounts {
			specs[i] = m.String()
		}
		doc["mounts"] = specs
	}
	if c.Command != nil {
		doc["command"] = c.Command
	}
	if !c.Docker.IsZero() {
		doc["docker"] = dockerJSON(c.Docker)
	}
	if n := networkJSON(c.Network); n != nil {
		doc["network"] = n
	}
	if c.Grants != nil {
		doc["grants"] = c.Grants
	}
	if r := resourcesJSON(c.Resources.Limits); r != nil {
		doc["resources"] = r
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dockerJSON(o Docker) map[string]any {
	doc := map[string]any{}
	if o.Cache {
		doc["cache"] = true
	}
	if o.ReadyTimeout != 0 {
		doc["ready_timeout"] = o.ReadyTimeout.String()
	}
	if o.Install != "" {
		doc["install"] = o.Install
	}
	if o.HostBypassesEgress {
		doc["host_bypasses_egress"] = true
	}
	if o.NoBuildkit {
		doc["buildkit"] = false
	}
	if o.InsecureRegistries != nil {
		doc["insecure_registries"] = o.InsecureRegistries
	}
	return doc
}

// networkJSON returns the network section of n, or nil when Parse left it
// unset.
func networkJSON(n Network) map[string]any {
	doc := map[string]any{}
	if n.Policy != "" {
		doc["policy"] = n.Policy
	}
	if n.Allow != nil {
		entries := make([]any, len(n.Allow))
		for i, r := range n.Allow {
			entries[i] = r.Text
			if req := r.Rule.Requests; req != nil {
				entry := map[string]any{"host": r.Text}
				if req.Methods != nil {
					entry["methods"] = req.Methods
				}
				if req.Paths != nil {
					entry["paths"] = req.PathStrings()
				}
				entries[i] = entry
			}
		}
		doc["allow"] = entries
	}
	if n.Hosts != nil {
		hosts := make(map[string]string, len(n.Hosts))
		for _, h := range n.Hosts {
			hosts[h.Name] = h.Address
		}
		doc["hosts"] = hosts
	}
	if n.CA != "" {
		doc["ca"] = n.CA
	}
	if len(doc) == 0 {
		return nil
	}
	return doc
}

// resourcesJSON returns the resources section of l, or nil when Parse left
// it unset.
func resourcesJSON(l Limits) map[string]any {
	doc := map[string]any{}
	if l.Memory != 0 {
		doc["memory"] = FormatSize(l.Memory)
	}
	if l.NanoCPUs != 0 {
		doc["cpus"] = json.Number(FormatCPUs(l.NanoCPUs))
	}
	if l.Pids != 0 {
		doc["pids"] = l.Pids
	}
	if len(doc) == 0 {
		return nil
	}
	return doc
}

func sameConfig(a, b *Config) bool {
	return a.Name == b.Name && reflect.DeepEqual(a.Dependencies, b.Dependencies) &&
		reflect.DeepEqual(a.Env, b.Env) && reflect.DeepEqual(a.Mounts, b.Mounts) &&
		reflect.DeepEqual(a.Command, b.Command) && reflect.DeepEqual(a.Docker, b.Docker) &&
		reflect.DeepEqual(withoutLines(a.Network), withoutLines(b.Network)) && reflect.DeepEqual(a.Grants, b.Grants) &&
		a.Resources.Limits == b.Resources.Limits
}

// withoutLines is n with its allow entries' lines cleared: a round trip
// through JSON writes every entry on the first line.
func withoutLines(n Network) Network {
	n.Allow = slices.Clone(n.Allow)
	for i, r := range n.Allow {
		if r.Rule.Requests != nil {
			req := *r.Rule.Requests
			req.Line = 0
			n.Allow[i].Rule.Requests = &req
		}
	}
	return n
}
