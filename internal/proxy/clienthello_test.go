package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello returns the bytes a Go TLS client sends first for
// serverName ("" sends no server name).
func clientHello(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cfg := &tls.Config{ServerName: serverName, InsecureSkipVerify: true}
		_ = tls.Client(c, cfg).Handshake()
		c.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, _, _, err := readClientHello(s)
	if err != nil {
		t.Fatalf("reading a Go ClientHello: %v", err)
	}
	return raw
}

func TestParseClientHello(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"example.com", "a.b.example.org", ""} {
		raw := clientHello(t, name)
		got, err := parseClientHello(raw[recordHeaderLen:])
		if err != nil || got != name {
			t.Errorf("ClientHello for %q: got %q, %v", name, got, err)
		}
	}
	hello := clientHello(t, "example.com")[recordHeaderLen:]
	bad := []struct {
		name string
		hs   []byte
	}{
		{"empty", nil},
		{"not a ClientHello", append([]byte{2}, hello[1:]...)},
		{"truncated", hello[:len(hello)-10]},
		{"length past the end", append([]byte{1, 0xff, 0xff, 0xff}, hello[4:]...)},
		{"only a header", hello[:4]},
	}
	for _, b := range bad {
		if got, err := parseClientHello(b.hs); err == nil {
			t.Errorf("%s: got %q, want an error", b.name, got)
		}
	}
}

// buildHello makes a ClientHello handshake message with the given
// extensions (type, body).
func buildHello(exts ...[]byte) []byte {
	body := append(make([]byte, 2+32), 0)       // version, random, empty session id
	body = append(body, 0, 2, 0x13, 0x01, 1, 0) // one cipher suite, null compression
	var all []byte
	for _, e := range exts {
		all = append(all, e...)
	}
	body = append(body, byte(len(all)>>8), byte(len(all)))
	body = append(body, all...)
	return append([]byte{1, 0, byte(len(body) >> 8), byte(len(body))}, body...)
}

func sniExt(entries ...[]byte) []byte {
	var list []byte
	for _, e := range entries {
		list = append(list, e...)
	}
	data := append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)
	return append([]byte{0, 0, byte(len(data) >> 8), byte(len(data))}, data...)
}

func hostEntry(typ byte, name string) []byte {
	return append([]byte{typ, byte(len(name) >> 8), byte(len(name))}, name...)
}

func TestParseServerName(t *testing.T) {
	t.Parallel()
	other := []byte{0, 10, 0, 2, 0, 0} // supported_groups, empty
	tests := []struct {
		name, want, err string
		hs              []byte
	}{
		{"one name", "x.example", "", buildHello(sniExt(hostEntry(0, "x.example")))},
		{"no extensions", "", "", buildHello()},
		{"other extensions only", "", "", buildHello(other)},
		{"other name type ignored", "x.example", "", buildHello(sniExt(hostEntry(7, "y"), hostEntry(0, "x.example")))},
		{"two host names", "", "ClientHello names two servers", buildHello(sniExt(hostEntry(0, "a.example"), hostEntry(0, "b.example")))},
		{"two server_name extensions", "", "ClientHello repeats extension 0", buildHello(sniExt(hostEntry(0, "a.example")), sniExt(hostEntry(0, "b.example")))},
		{"empty name", "", "malformed server name", buildHello(sniExt(hostEntry(0, "")))},
		{"name with a NUL", "", "malformed server name", buildHello(sniExt(hostEntry(0, "a.example\x00.b")))},
		{"empty list", "", "malformed server_name extension", buildHello(sniExt())},
	}
	for _, tt := range tests {
		got, err := parseClientHello(tt.hs)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("%s: got %q, %v; want %q, %q", tt.name, got, err, tt.want, tt.err)
		}
	}
}

// TestReadClientHelloRecords reads a ClientHello split over several TLS
// records, delivered a few bytes at a time, and non-TLS first bytes.
func TestReadClientHelloRecords(t *testing.T) {
	t.Parallel()
	hs := buildHello(sniExt(hostEntry(0, "split.example")))
	var wire []byte
	for i := 0; i < len(hs); i += 7 {
		frag := hs[i:min(i+7, len(hs))]
		wire = append(wire, 22, 3, 1, 0, byte(len(frag)))
		wire = append(wire, frag...)
	}
	c, s := net.Pipe()
	go func() {
		for i := 0; i < len(wire); i += 3 {
			c.Write(wire[i:min(i+3, len(wire))])
		}
	}()
	raw, sni, isTLS, err := readClientHello(s)
	if err != nil || !isTLS || sni != "split.example" || string(raw) != string(wire) {
		t.Fatalf("got sni %q, TLS %v, %d of %d bytes, %v", sni, isTLS, len(raw), len(wire), err)
	}
	c.Close()

	c, s = net.Pipe()
	go c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	raw, _, isTLS, err = readClientHello(s)
	if err != nil || isTLS || !strings.HasPrefix("SSH-2.0-OpenSSH_9.2\r\n", string(raw)) || len(raw) == 0 {
		t.Fatalf("non-TLS: got %q, TLS %v, %v", raw, isTLS, err)
	}
	c.Close()

	c, s = net.Pipe()
	go func() { c.Write([]byte{22, 3, 1, 0xff, 0xff}); c.Close() }()
	if _, _, isTLS, err = readClientHello(s); !isTLS || err == nil {
		t.Fatalf("oversized record: TLS %v, err %v, want an error", isTLS, err)
	}
}

func TestCheckServerName(t *testing.T) {
	t.Parallel()
	eof := errors.New("EOF")
	tests := []struct {
		host  string
		port  int
		sni   string
		isTLS bool
		err   error
		want  string
	}{
		{"example.com", 443, "example.com", true, nil, ""},
		{"example.com", 443, "Example.COM.", true, nil, ""},
		{"example.com", 8443, "example.com", true, nil, ""},
		{"example.com", 443, "evil.example", true, nil, `the TLS server name "evil.example" is not the CONNECT host "example.com"`},
		{"example.com", 443, "example.com.evil.example", true, nil, `the TLS server name "example.com.evil.example" is not the CONNECT host "example.com"`},
		{"example.com", 443, "", true, nil, `the TLS ClientHello names no server, but the CONNECT host is "example.com"`},
		{"192.0.2.1", 443, "", true, nil, ""},
		{"2001:db8::1", 443, "", true, nil, ""},
		{"192.0.2.1", 443, "example.com", true, nil, `the TLS server name "example.com" is not the CONNECT host "192.0.2.1"`},
		{"example.com", 443, "", false, nil, "the tunnel to port 443 did not start with a TLS ClientHello"},
		{"example.com", 22, "", false, nil, ""},
		{"example.com", 443, "", true, eof, "reading the TLS ClientHello: EOF"},
	}
	for _, tt := range tests {
		err := checkServerName(tt.host, tt.port, tt.sni, tt.isTLS, tt.err)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkServerName(%q, %d, %q, %v, %v) = %q, want %q", tt.host, tt.port, tt.sni, tt.isTLS, tt.err, got, tt.want)
		}
	}
}

func FuzzParseClientHello(f *testing.F) {
	f.Add(buildHello(sniExt(hostEntry(0, "x.example"))))
	f.Add(buildHello())
	f.Add(buildHello(sniExt(hostEntry(0, "a"), hostEntry(0, "b"))))
	f.Add(clientHello(f, "example.com")[recordHeaderLen:])
	f.Fuzz(func(t *testing.T, hs []byte) {
		name, err := parseClientHello(hs)
		if err != nil && name != "" {
			t.Fatalf("an error with a name %q", name)
		}
		if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			t.Fatalf("name %q has bytes a host name cannot", name)
		}
		if name != "" && !strings.Contains(string(hs), name) {
			t.Fatalf("name %q is not in the input", name)
		}
	})
}
