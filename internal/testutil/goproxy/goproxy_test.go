package goproxy

import (
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var hello = Module{Path: "example.test/Hello", Version: "v1.0.0", Files: map[string]string{
	"go.mod":   "module example.test/Hello\n\ngo 1.19\n",
	"hello.go": "package hello\n\nconst Message = \"hello\"\n",
}}

// TestGoDownloadsAndVerifies has the real go command download the module
// from the handler, in a module whose go.sum holds GoSum's lines: a wrong
// hash fails the download as a checksum mismatch, and a missing line
// would change go.sum.
func TestGoDownloadsAndVerifies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	srv := httptest.NewServer(NewHandler(hello))
	defer srv.Close()
	dir := t.TempDir()
	goMod := "module example.test/app\n\ngo 1.19\n\nrequire example.test/Hello v1.0.0\n"
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644)
	os.WriteFile(filepath.Join(dir, "go.sum"), []byte(hello.GoSum()), 0o644)
	cmd := exec.Command(goBin, "mod", "download", "-json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY="+srv.URL, "GOSUMDB=off", "GOFLAGS=-mod=readonly -modcacherw",
		"GOMODCACHE="+filepath.Join(t.TempDir(), "mod"), "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"Zip"`) || strings.Contains(string(out), `"Error"`) {
		t.Errorf("go mod download did not download the zip cleanly:\n%s", out)
	}
	if sum, _ := os.ReadFile(filepath.Join(dir, "go.sum")); string(sum) != hello.GoSum() {
		t.Errorf("go changed go.sum, so GoSum's lines are not what it computes:\ngot\n%swant\n%s", sum, hello.GoSum())
	}
}

func TestHandler(t *testing.T) {
	v2 := hello
	v2.Version = "v1.1.0"
	srv := httptest.NewServer(NewHandler(hello, v2))
	defer srv.Close()
	for _, c := range []struct{ path, want string }{
		{"/example.test/!hello/@v/list", "v1.0.0\nv1.1.0\n"},
		{"/example.test/!hello/@v/v1.0.0.mod", hello.Files["go.mod"]},
		{"/example.test/!hello/@v/v1.1.0.info", `{"Time":"2025-01-02T03:04:05Z","Version":"v1.1.0"}` + "\n"},
		{"/example.test/!hello/@latest", `{"Time":"2025-01-02T03:04:05Z","Version":"v1.1.0"}` + "\n"},
		{"/example.test/Hello/@v/list", "404"},
		{"/example.test/!hello/@v/v9.0.0.zip", "404"},
		{"/example.test/!hello", "404"},
	} {
		res, err := srv.Client().Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got := string(b)
		if res.StatusCode != 200 {
			got = res.Status[:3]
		}
		if got != c.want {
			t.Errorf("GET %s: got %q, want %q", c.path, got, c.want)
		}
	}
}
