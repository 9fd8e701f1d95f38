package ociwrap

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMOATCA\n-----END CERTIFICATE-----\n"

func TestBundleOf(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--root", "/run/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/p", "id"}, "/b", true},
		{[]string{"create", "-b", "/b2", "id"}, "/b2", true},
		{[]string{"--systemd-cgroup", "run", "--bundle=/b3", "id"}, "/b3", true},
		{[]string{"--root", "create", "start", "id"}, "", false}, // "create" is --root's value
		{[]string{"start", "id"}, "", false},
		{[]string{"--root", "/r", "delete", "id"}, "", false},
		{[]string{"state", "create"}, "", false},
	} {
		got, ok := BundleOf(tt.args)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("BundleOf(%q) = %q, %v; want %q, %v", tt.args, got, ok, tt.want, tt.ok)
		}
	}
}

// bundle makes an OCI bundle whose rootfs holds files, and the run's CA.
func bundle(t *testing.T, files map[string]string, env []string) (dir, ca string) {
	t.Helper()
	dir = t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for name, content := range files {
		p := filepath.Join(rootfs, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if strings.HasPrefix(content, "->") {
			if err := os.Symlink(strings.TrimPrefix(content, "->"), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		os.WriteFile(p, []byte(content), 0o644)
	}
	os.MkdirAll(rootfs, 0o755)
	spec := map[string]any{"ociVersion": "1.0.2", "root": map[string]any{"path": "rootfs"},
		"process": map[string]any{"args": []string{"sh"}, "env": env}, "mounts": []any{}, "linux": map[string]any{"x": 1}}
	b, _ := json.Marshal(spec)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
	ca = filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte(testCA), 0o644)
	return dir, ca
}

func readSpec(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestTrustCA: the image's own bundle plus the run's CA is mounted
// read-only in the container's /dev, never over the image's files; the
// trust variables point at it unless the container set them; the rest of
// the spec is kept.
func TestTrustCA(t *testing.T) {
	for _, tt := range []struct {
		name   string
		files  map[string]string
		env    []string
		target string
		own    string
	}{
		{"debian", map[string]string{"etc/ssl/certs/ca-certificates.crt": "DEBIANROOTS\n"}, nil, Target, "DEBIANROOTS"},
		{"fedora", map[string]string{"etc/pki/tls/certs/ca-bundle.crt": "FEDORAROOTS\n"}, nil, Target, "FEDORAROOTS"},
		{"none", nil, []string{"SSL_CERT_FILE=/mine.pem"}, Target, ""},
		// A link out of the image is resolved inside it, where it leads
		// nowhere: the host's file is not read.
		{"link out", map[string]string{"etc/ssl/certs/ca-certificates.crt": "->/etc/hostname"}, nil, Target, ""},
		{"link inside", map[string]string{"etc/ssl/certs/ca-certificates.crt": "->/usr/share/roots.pem", "usr/share/roots.pem": "LINKEDROOTS"}, nil, Target, "LINKEDROOTS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, ca := bundle(t, tt.files, tt.env)
			if err := TrustCA(dir, ca, ""); err != nil {
				t.Fatal(err)
			}
			spec := readSpec(t, dir)
			mounts := spec["mounts"].([]any)
			m := mounts[len(mounts)-1].(map[string]any)
			if m["destination"] != tt.target || m["type"] != "bind" || !strings.Contains(strings.Join(toStrings(m["options"]), ","), "ro") {
				t.Errorf("mount %v", m)
			}
			got, _ := os.ReadFile(m["source"].(string))
			if !strings.Contains(string(got), testCA) || tt.own != "" && !strings.HasPrefix(string(got), tt.own) {
				t.Errorf("bundle %q, want the image's roots (%q) and the CA", got, tt.own)
			}
			if host, _ := os.ReadFile("/etc/hostname"); len(host) > 0 && strings.Contains(string(got), strings.TrimSpace(string(host))) && tt.name == "link out" {
				t.Errorf("the wrapper followed a link out of the image: %q", got)
			}
			env := strings.Join(toStrings(spec["process"].(map[string]any)["env"]), " ")
			if tt.name == "none" {
				if !strings.Contains(env, "SSL_CERT_FILE=/mine.pem") || strings.Contains(env, "SSL_CERT_FILE="+tt.target) {
					t.Errorf("the container's own SSL_CERT_FILE was replaced: %s", env)
				}
			} else if !strings.Contains(env, "SSL_CERT_FILE="+tt.target) || !strings.Contains(env, "NODE_EXTRA_CA_CERTS="+tt.target) {
				t.Errorf("env %s", env)
			}
			if spec["linux"].(map[string]any)["x"] != float64(1) {
				t.Error("the rest of the spec was not kept")
			}
		})
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestProxyForBuildSteps: with a proxy, a container without proxy
// variables gets them; one with its own keeps them.
func TestProxyForBuildSteps(t *testing.T) {
	const proxy = "http://moat:tok@127.0.0.1:3128"
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{nil, "HTTPS_PROXY=" + proxy},
		{[]string{"https_proxy=http://mine:1"}, "https_proxy=http://mine:1"},
	} {
		dir, ca := bundle(t, nil, tt.env)
		if err := TrustCA(dir, ca, proxy); err != nil {
			t.Fatal(err)
		}
		env := strings.Join(toStrings(readSpec(t, dir)["process"].(map[string]any)["env"]), " ")
		if !strings.Contains(env, tt.want) || tt.env != nil && strings.Contains(env, proxy) {
			t.Errorf("env %s, want %s and no other proxy", env, tt.want)
		}
	}
}
