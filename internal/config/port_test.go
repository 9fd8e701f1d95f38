package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	t.Parallel()
	lo, any4 := Loopback, netip.MustParseAddr("0.0.0.0")
	tests := []struct {
		spec    string
		want    Port
		wantErr string
	}{
		{spec: "3000", want: Port{HostIP: lo, ContainerPort: 3000}},
		{spec: "3000/tcp", want: Port{HostIP: lo, ContainerPort: 3000}},
		{spec: "8080:3000", want: Port{HostIP: lo, HostPort: 8080, ContainerPort: 3000}},
		{spec: "127.0.0.1:8080:3000", want: Port{HostIP: lo, HostPort: 8080, ContainerPort: 3000}},
		{spec: "0.0.0.0:8080:3000", want: Port{HostIP: any4, HostPort: 8080, ContainerPort: 3000}},
		{spec: "127.0.0.1::3000", want: Port{HostIP: lo, ContainerPort: 3000}},
		{spec: "[::1]:8080:3000", want: Port{HostIP: netip.IPv6Loopback(), HostPort: 8080, ContainerPort: 3000}},
		{spec: "[::ffff:127.0.0.1]:8080:3000", want: Port{HostIP: lo, HostPort: 8080, ContainerPort: 3000}},

		{spec: "", wantErr: `invalid port "": container port "" is not a number from 1 to 65535`},
		{spec: "0", wantErr: `invalid port "0": container port "0" is not a number from 1 to 65535`},
		{spec: "65536", wantErr: `invalid port "65536": container port "65536" is not a number from 1 to 65535`},
		{spec: "+80", wantErr: `invalid port "+80": container port "+80" is not a number from 1 to 65535`},
		{spec: "8080:", wantErr: `invalid port "8080:": container port "" is not a number from 1 to 65535`},
		{spec: ":3000", wantErr: `invalid port ":3000": host port "" is not a number from 1 to 65535`},
		{spec: "web:3000", wantErr: `invalid port "web:3000": host port "web" is not a number from 1 to 65535`},
		{spec: "80:3000", wantErr: `invalid port "80:3000": host port 80 is below 1024: the proxy sidecar that listens on it has no privileges`},
		{spec: "localhost:8080:3000", wantErr: `invalid port "localhost:8080:3000": host address "localhost" is not an IP address`},
		{spec: "[fe80::1%eth0]:8080:3000", wantErr: `invalid port "[fe80::1%eth0]:8080:3000": host address "[fe80::1%eth0]" is not an IP address`},
		{spec: "3000/udp", wantErr: `invalid port "3000/udp": protocol "udp" is not supported`},
		{spec: "1:2:3:4", wantErr: `invalid port "1:2:3:4": host address "1:2" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePort(tt.spec)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %+v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if again, err := ParsePort(got.String()); err != nil || again != got {
				t.Fatalf("round trip of %q: got %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParsePorts(t *testing.T) {
	t.Parallel()
	c, err := Parse("agent.yaml", []byte("ports:\n  - 3000\n  - 8080:3001\n  - \"0.0.0.0:9090:3002\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Port{
		{HostIP: Loopback, ContainerPort: 3000},
		{HostIP: Loopback, HostPort: 8080, ContainerPort: 3001},
		{HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 9090, ContainerPort: 3002},
	}
	if !reflect.DeepEqual(c.Ports, want) {
		t.Fatalf("got %+v, want %+v", c.Ports, want)
	}
}

func TestParsePortsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ yaml, want string }{
		{"ports: 3000\n", "agent.yaml:1:8: ports: expected a list, got a number"},
		{"ports:\n  - 3000\n  - 70000\n", `agent.yaml:3:5: invalid port "70000": container port "70000" is not a number from 1 to 65535`},
		{"ports: [\"8080:3000\", \"8080:3001\"]\n", `agent.yaml:1:22: invalid port "8080:3001": host address 127.0.0.1:8080 is already used (first at 1:9)`},
		{"ports: [{port: 3000}]\n", "agent.yaml:1:9: ports: expected a string, got a mapping"},
	}
	for _, tt := range tests {
		_, err := Parse("agent.yaml", []byte(tt.yaml))
		if err == nil || firstLine(err.Error()) != tt.want {
			t.Errorf("%q: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
