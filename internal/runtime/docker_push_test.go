package runtime

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
)

func TestPushTag(t *testing.T) {
	const id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		tags []string
		want string
	}{
		{tags: []string{"moat/run:aaaaabbbbbcccccddddd", "x:latest"}, want: "aaaaabbbbbcccccddddd"},
		{tags: []string{"moat/helper:1111122222333334444455555"}, want: "1111122222333334444455555"},
		// Not moat's content hash: the image's ID names it.
		{tags: []string{"moat/run:latest", "other/run:aaaaabbbbbcccccddddd"}, want: "0123456789abcdef0123"},
		{want: "0123456789abcdef0123"},
	}
	for _, tt := range tests {
		if got := pushTag(id, tt.tags); got != tt.want {
			t.Errorf("pushTag(%q) = %q, want %q", tt.tags, got, tt.want)
		}
	}
}

func TestDecodePushStream(t *testing.T) {
	tests := []struct{ stream, want, wantErr string }{
		{stream: `{"status":"Pushed"}{"progressDetail":{},"aux":{"Tag":"t","Digest":"sha256:abc","Size":528}}`, want: "sha256:abc"},
		{stream: `{"status":"Preparing"}{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`,
			wantErr: "unauthorized: authentication required"},
		{stream: `{"status":"Pushed"}`, wantErr: "the engine did not report the pushed image's digest"},
		{stream: `{"status":`, wantErr: "reading the push stream: unexpected EOF"},
	}
	for _, tt := range tests {
		got, err := decodePushStream(strings.NewReader(tt.stream))
		if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && err.Error() != tt.wantErr {
			t.Errorf("%s: got %q, %v; want %q, %q", tt.stream, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRegistryServerError(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"received unexpected HTTP status: 500 Internal Server Error", true},
		{"received unexpected HTTP status: 503 Service Unavailable", true},
		{"received unexpected HTTP status: 404 Not Found", false},
		{"unauthorized: authentication required", false},
		{"received unexpected HTTP status: 5", false},
		{"denied: requested access to the resource is denied", false},
	}
	for _, tt := range tests {
		if got := registryServerError(errors.New(tt.msg)); got != tt.want {
			t.Errorf("registryServerError(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	if got, err := registryAuth("registry.example.com"); got != "" || err != nil {
		t.Fatalf("without a config.json: got %q, %v; want anonymous", got, err)
	}
	login := base64.StdEncoding.EncodeToString([]byte("ann:s3cret:with-colon"))
	config := `{"auths": {"registry.example.com:5000": {"auth": "` + login + `"}, "https://index.docker.io/v1/": {"identitytoken": "tok"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want registry.AuthConfig
	}{
		{host: "registry.example.com:5000", want: registry.AuthConfig{Username: "ann", Password: "s3cret:with-colon", ServerAddress: "registry.example.com:5000"}},
		{host: "docker.io", want: registry.AuthConfig{IdentityToken: "tok", ServerAddress: "https://index.docker.io/v1/"}},
		{host: "127.0.0.1:5000"},
	}
	for _, tt := range tests {
		got, err := registryAuth(tt.host)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == (registry.AuthConfig{}) {
			if got != "" {
				t.Errorf("%s: got %q, want anonymous", tt.host, got)
			}
			continue
		}
		ac, err := registry.DecodeAuthConfig(got)
		if err != nil || *ac != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.host, ac, err, tt.want)
		}
	}
}

// TestPushErrorHint: a registry that failed on every try is pointed at;
// any other push failure gets the login and registry hint.
func TestPushErrorHint(t *testing.T) {
	failing := &PushError{Ref: "r:1", Registry: "reg.test", Err: errors.New("received unexpected HTTP status: 502 Bad Gateway")}
	if h := failing.Hint(); !strings.Contains(h, "reg.test failed with a server error on each of 3 tries") {
		t.Errorf("a failing registry's hint: %q", h)
	}
	denied := &PushError{Ref: "r:1", Registry: "reg.test", Err: errors.New("denied: requested access to the resource is denied")}
	if h := denied.Hint(); !strings.Contains(h, "docker login reg.test") {
		t.Errorf("a refused push's hint: %q", h)
	}
}
