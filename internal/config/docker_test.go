package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDockerSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Docker
		wantErr string
	}{
		{name: "cache and timeout", yaml: "dependencies: [docker:dind]\ndocker: {cache: true, ready_timeout: 45s}\n",
			want: Docker{Cache: true, ReadyTimeout: 45 * time.Second}},
		{name: "seconds as a number", yaml: "dependencies: [docker:dind]\ndocker:\n  ready_timeout: 20\n",
			want: Docker{ReadyTimeout: 20 * time.Second}},
		{name: "order does not matter", yaml: "docker: {cache: true}\ndependencies: [docker:dind]\n", want: Docker{Cache: true}},
		{name: "cache needs dind", yaml: "dependencies: [docker:host]\ndocker: {cache: true}\n",
			wantErr: "agent.yaml:2:9: docker: cache, ready_timeout and the buildkit options are for docker:dind, and dependencies lists docker:host"},
		{name: "insecure registries", yaml: "dependencies: [docker:dind]\ndocker: {insecure_registries: ['registry.test:5000']}\n",
			want: Docker{InsecureRegistries: []string{"registry.test:5000"}}},
		{name: "bad registry", yaml: "dependencies: [docker:dind]\ndocker: {insecure_registries: ['http://r:5000']}\n",
			wantErr: `agent.yaml:2:32: docker.insecure_registries: "http://r:5000" is not a registry address`},
		{name: "buildkit off", yaml: "dependencies: [docker:dind]\ndocker: {buildkit: false}\n", want: Docker{NoBuildkit: true}},
		// The sidecar runs with SYS_ADMIN: its image is the user's choice,
		// never the workspace's.
		{name: "buildkit image is refused", yaml: "dependencies: [docker:dind]\ndocker: {buildkit_image: 'localhost:5000/bk:v1'}\n",
			wantErr: "agent.yaml:2:10: docker.buildkit_image: the BuildKit sidecar's image is set only in your own configuration, not in agent.yaml"},
		{name: "needs a mode", yaml: "dependencies: [git]\ndocker: {install: docker}\n",
			wantErr: "agent.yaml:2:9: docker: these options tune a Docker mode, and dependencies lists none"},
		{name: "install from docker", yaml: "dependencies: [docker:host]\ndocker: {install: docker}\n",
			want: Docker{Install: "docker"}},
		{name: "install debian is the default", yaml: "dependencies: [docker:dind]\ndocker: {install: debian}\n",
			want: Docker{}},
		{name: "unknown install", yaml: "dependencies: [docker:dind]\ndocker: {install: brew}\n",
			wantErr: `agent.yaml:2:19: docker.install: unknown value "brew"`},
		{name: "unknown option", yaml: "dependencies: [docker:dind]\ndocker: {cahce: true}\n",
			wantErr: `agent.yaml:2:10: unknown docker option "cahce"`},
		{name: "cache not a bool", yaml: "dependencies: [docker:dind]\ndocker: {cache: yes please}\n",
			wantErr: "agent.yaml:2:17: docker.cache: expected true or false, got a string"},
		{name: "bad duration", yaml: "dependencies: [docker:dind]\ndocker: {ready_timeout: soon}\n",
			wantErr: `agent.yaml:2:25: docker.ready_timeout: invalid duration "soon"`},
		{name: "too long", yaml: "dependencies: [docker:dind]\ndocker: {ready_timeout: 3h}\n",
			wantErr: "agent.yaml:2:25: docker.ready_timeout: 3h0m0s is out of range: it must be more than 0 and at most 10m0s"},
		{name: "host bypass acknowledged", yaml: "dependencies: [docker:host]\ndocker: {host_bypasses_egress: true}\n",
			want: Docker{HostBypassesEgress: true}},
		{name: "host bypass needs docker:host", yaml: "dependencies: [docker:dind]\ndocker: {host_bypasses_egress: true}\n",
			wantErr: "agent.yaml:2:9: docker: host_bypasses_egress is for docker:host, and dependencies lists docker:dind"},
		{name: "not a mapping", yaml: "dependencies: [docker:dind]\ndocker: true\n",
			wantErr: "agent.yaml:2:9: docker: expected a mapping of options, got a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("agent.yaml", []byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Docker, tt.want) {
				t.Fatalf("got %+v, want %+v", c.Docker, tt.want)
			}
		})
	}
}

func TestReservedEnvPrefix(t *testing.T) {
	_, err := Parse("agent.yaml", []byte("env:\n  MOAT_UID: \"0\"\n"))
	want := `agent.yaml:2:3: env name "MOAT_UID" is reserved: moat sets MOAT_* variables for the run itself`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	if err := CheckEnvName("moat_x"); err == nil {
		t.Fatal("lower-case moat_ prefix accepted; the prefix is reserved in any case")
	}
}
