package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadGlobal(t *testing.T) {
	dir := t.TempDir()
	if g, err := LoadGlobal(filepath.Join(dir, "absent.yaml")); err != nil || *g != (Global{}) {
		t.Fatalf("missing file: got %+v, %v, want an empty configuration", g, err)
	}
	const id = "sha256:2eb4fee177cf0c8d1f4c9f0ea2d1f7f0f7b94f2d5a4c44c4f3e1e8a8b9a0c1d2"
	tests := []struct{ yaml, want, wantErr string }{
		{yaml: "buildkit_image: " + id + "\n", want: id},
		{yaml: "buildkit_image: moby/buildkit:v0.34.2@" + id + "\n", want: "moby/buildkit:v0.34.2@" + id},
		{yaml: "buildkit_image: moby/buildkit@" + id + "\n", want: "moby/buildkit@" + id},
		// A tag can be moved by whoever controls the engine or the
		// registry; an untagged name would mean latest.
		{yaml: "buildkit_image: moat-test/buildkit:v0.34.2\n",
			wantErr: `config.yaml:1:17: buildkit_image: "moat-test/buildkit:v0.34.2" is not pinned: the BuildKit sidecar runs with extra privileges, and a tag can be moved`},
		{yaml: "buildkit_image: moby/buildkit\n",
			wantErr: `config.yaml:1:17: buildkit_image: "moby/buildkit" is not pinned: the BuildKit sidecar runs with extra privileges, and a tag can be moved`},
		{yaml: "base_image: debian\n",
			wantErr: `config.yaml:1:13: base_image: "debian" has no tag, and moat never assumes latest`},
		{yaml: "# nothing yet\n"},
		{yaml: "buildkit_imag: x\n", wantErr: `config.yaml:1:1: unknown setting "buildkit_imag"`},
		{yaml: "buildkit_image: 'Bad Ref'\n", wantErr: `config.yaml:1:17: buildkit_image: "Bad Ref" is not an image reference`},
		{yaml: "- a\n", wantErr: "config.yaml:1:1: expected a mapping of settings at the top level, got a list"},
	}
	for _, tt := range tests {
		g, done, err := loadGlobalText(t, dir, tt.yaml, tt.wantErr)
		if done {
			continue
		}
		if err != nil || g.BuildkitImage != tt.want && g.BaseImage != tt.want {
			t.Errorf("%q: got %+v, %v, want image %q", tt.yaml, g, err, tt.want)
		}
	}
}

func TestLoadGlobalMirrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	tests := []struct{ yaml, npm, pip, wantErr string }{
		{yaml: "npm_registry: http://172.17.0.1:4873/\npip_index: https://pypi.corp.example/simple\n",
			npm: "http://172.17.0.1:4873/", pip: "https://pypi.corp.example/simple"},
		{yaml: "npm_registry: https://npm.corp.example/api/npm/npm-remote\n", npm: "https://npm.corp.example/api/npm/npm-remote"},
		{yaml: "npm_registry: ftp://npm.example\n", wantErr: `config.yaml:1:15: npm_registry: "ftp://npm.example" is not a mirror URL`},
		{yaml: "npm_registry: npm.example.com\n", wantErr: `config.yaml:1:15: npm_registry: "npm.example.com" is not a mirror URL`},
		// The URL is written into the build recipe: a quote, a space or a
		// newline could reach the shell or start an instruction.
		{yaml: "npm_registry: \"http://x/';id;'\"\n", wantErr: `config.yaml:1:15: npm_registry: "http://x/';id;'" is not a mirror URL`},
		{yaml: "npm_registry: \"http://x/\\nRUN id\"\n", wantErr: `config.yaml:1:15: npm_registry: "http://x/\nRUN id" is not a mirror URL`},
		{yaml: "pip_index: https://user:pw@pypi.example/simple\n",
			wantErr: `config.yaml:1:12: pip_index: "https://user:xxxxx@pypi.example/simple" holds credentials, which would be stored in every image built from it`},
		{yaml: "npm_registry: http://x/?token=abc\n", wantErr: `config.yaml:1:15: npm_registry: "http://x/?token=abc" is not a mirror URL`},
	}
	for _, tt := range tests {
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := LoadGlobal(path)
		if tt.wantErr != "" {
			if err == nil || err.Error() != dir+"/"+tt.wantErr {
				t.Errorf("%q: got error %q, want %q", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil || g.NPMRegistry != tt.npm || g.PipIndex != tt.pip {
			t.Errorf("%q: got %+v, %v, want %q and %q", tt.yaml, g, err, tt.npm, tt.pip)
		}
	}
}

func TestLoadGlobalRouter(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		yaml    string
		want    Router
		wantErr string
	}{
		{yaml: "router: {listen: 127.0.0.1:8881}\n", want: Router{Listen: "127.0.0.1:8881"}},
		{yaml: "router:\n  listen: '[::1]:8880'\n  auto: false\n", want: Router{Listen: "[::1]:8880", NoAuto: true}},
		{yaml: "router: {auto: true}\n", want: Router{}},
		{yaml: "router: {listen: 127.0.0.1:8880, auto: true}\n", want: Router{Listen: "127.0.0.1:8880"}}, // docs/config.md
		{yaml: "router:\n", want: Router{}},
		// The router reaches every run's ports: only this machine may reach it.
		{yaml: "router: {listen: 0.0.0.0:8880}\n",
			wantErr: `config.yaml:1:18: router.listen: "0.0.0.0:8880" is not a loopback address and port, e.g. 127.0.0.1:8880: the router reaches every run's ports, so only this machine may reach it`},
		{yaml: "router: {listen: localhost:8880}\n",
			wantErr: `config.yaml:1:18: router.listen: "localhost:8880" is not a loopback address and port, e.g. 127.0.0.1:8880: the router reaches every run's ports, so only this machine may reach it`},
		{yaml: "router: {listen: 127.0.0.1:0}\n",
			wantErr: `config.yaml:1:18: router.listen: "127.0.0.1:0" is not a loopback address and port, e.g. 127.0.0.1:8880: the router reaches every run's ports, so only this machine may reach it`},
		{yaml: "router: {auto: no-thanks}\n", wantErr: `config.yaml:1:16: router.auto: expected true or false, got a string`},
		{yaml: "router: {listn: 127.0.0.1:1}\n", wantErr: `config.yaml:1:10: unknown router setting "listn"`},
		{yaml: "router: 127.0.0.1:8880\n", wantErr: `config.yaml:1:9: router: expected a mapping, got a string`},
	}
	for _, tt := range tests {
		g, done, err := loadGlobalText(t, dir, tt.yaml, tt.wantErr)
		if done {
			continue
		}
		if err != nil || g.Router != tt.want {
			t.Errorf("%q: got %+v, %v, want %+v", tt.yaml, g.Router, err, tt.want)
		}
	}
	if got := (Router{}).ListenAddr(); got != DefaultRouterListen {
		t.Errorf("the default address: got %q, want %q", got, DefaultRouterListen)
	}
}

// loadGlobalText writes text as dir's config.yaml and loads it. When an
// error is wanted (wantErr, relative to dir) it checks it and reports done.
func loadGlobalText(t *testing.T, dir, text, wantErr string) (g *Global, done bool, err error) {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err = LoadGlobal(path)
	if wantErr == "" {
		return g, false, err
	}
	if err == nil || err.Error() != filepath.Join(dir, wantErr) {
		t.Errorf("%q: got error %v, want %s", text, err, wantErr)
	}
	return g, true, err
}
