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
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := LoadGlobal(path)
		if tt.wantErr != "" {
			if err == nil || err.Error() != filepath.Join(dir, tt.wantErr) {
				t.Errorf("%q: got error %v, want %s", tt.yaml, err, tt.wantErr)
			}
			continue
		}
		if err != nil || g.BuildkitImage != tt.want && g.BaseImage != tt.want {
			t.Errorf("%q: got %+v, %v, want image %q", tt.yaml, g, err, tt.want)
		}
	}
}
