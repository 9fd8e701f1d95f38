package buildkit

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/moatsh/moat/internal/runtime"
)

func TestReportStepsInTheEnginesForm(t *testing.T) {
	ch := make(chan *client.SolveStatus, 3)
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{
		{Name: "[internal] load build definition from Dockerfile"},
		{Name: "[2/3] RUN apt-get update"},
		{Name: "[1/3] FROM registry.test:5000/debian:bookworm-slim"},
	}}
	ch <- &client.SolveStatus{
		Vertexes: []*client.Vertex{{Name: "[2/3] RUN apt-get update"}, {Name: "[stage-0 3/3] COPY moat-init /usr/local/bin/moat-init", Error: "boom"}},
		Logs:     []*client.VertexLog{{Data: []byte("Get:1 http://deb.debian.org bookworm InRelease\n")}},
	}
	close(ch)
	var got []string
	reportSteps(ch, func(m runtime.BuildMessage) { got = append(got, m.Stream) })
	want := []string{
		"Step 1/3 : FROM registry.test:5000/debian:bookworm-slim\n",
		"Step 2/3 : RUN apt-get update\n",
		"Step 3/3 : COPY moat-init /usr/local/bin/moat-init\n",
		"boom\n",
		"Get:1 http://deb.debian.org bookworm InRelease\n",
	}
	if strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("got %q, want %q (each step once, in order, then output)", got, want)
	}
}

func TestUntarRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "a/../../evil"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		dir := t.TempDir()
		if err := untar(&buf, dir); err == nil {
			t.Errorf("untar accepted %q", name)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("FROM\n"))
	tw.Close()
	dir := t.TempDir()
	if err := untar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "Dockerfile")); err != nil || string(b) != "FROM\n" {
		t.Fatalf("Dockerfile: %q, %v", b, err)
	}
}
