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
	tests := []struct{ yaml, want, wantErr string }{
		{yaml: "buildkit_image: moat-test/buildkit:v0.34.2\n", want: "moat-test/buildkit:v0.34.2"},
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
		if err != nil || g.BuildkitImage != tt.want {
			t.Errorf("%q: got %+v, %v, want image %q", tt.yaml, g, err, tt.want)
		}
	}
}
