package pyindex

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var hello = Package{Name: "Moat.Hello", Version: "1.0.0", Files: map[string]string{
	"moat_hello/__init__.py": "MESSAGE = 'hello'\n",
}}

func TestNormalized(t *testing.T) {
	for in, want := range map[string]string{"Moat.Hello": "moat-hello", "a__b--c": "a-b-c", "x": "x"} {
		if got := Normalized(in); got != want {
			t.Errorf("Normalized(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIndexLeadsToAValidWheel follows the index as pip does, from the
// project page to the wheel, and checks the link's hash and every RECORD
// line against the wheel's files.
func TestIndexLeadsToAValidWheel(t *testing.T) {
	h, err := NewHandler(hello)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(u string) (int, []byte) {
		res, err := srv.Client().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, body := get(srv.URL + "/simple/"); code != 200 || !strings.Contains(string(body), `href="moat-hello/"`) {
		t.Fatalf("/simple/: %d\n%s", code, body)
	}
	if code, _ := get(srv.URL + "/simple/nothing/"); code != 404 {
		t.Errorf("/simple/nothing/: got %d, want 404", code)
	}
	page := srv.URL + "/simple/moat-hello/"
	code, body := get(page)
	m := regexp.MustCompile(`href="([^"#]+)#sha256=([0-9a-f]{64})"`).FindStringSubmatch(string(body))
	if code != 200 || m == nil {
		t.Fatalf("%s: %d, no link with a hash\n%s", page, code, body)
	}
	base, _ := url.Parse(page)
	ref, _ := url.Parse(m[1])
	code, wheel := get(base.ResolveReference(ref).String())
	if sum := sha256.Sum256(wheel); code != 200 || hex.EncodeToString(sum[:]) != m[2] {
		t.Fatalf("the wheel: %d, its SHA-256 is not the link's", code)
	}
	if !strings.HasSuffix(m[1], "/Moat_Hello-1.0.0-py3-none-any.whl") {
		t.Errorf("wheel link %q, want its name Moat_Hello-1.0.0-py3-none-any.whl", m[1])
	}
	checkRecord(t, wheel)
}

func checkRecord(t *testing.T, wheel []byte) {
	z, err := zip.NewReader(bytes.NewReader(wheel), int64(len(wheel)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range z.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		files[f.Name] = string(b)
	}
	record := files["Moat_Hello-1.0.0.dist-info/RECORD"]
	if files["moat_hello/__init__.py"] != hello.Files["moat_hello/__init__.py"] || record == "" {
		t.Fatalf("the wheel lacks the module or its RECORD: %v", files)
	}
	lines := strings.Split(strings.TrimSpace(record), "\n")
	if len(lines) != len(files) {
		t.Errorf("RECORD has %d lines for %d files:\n%s", len(lines), len(files), record)
	}
	for _, line := range lines {
		name, rest, _ := strings.Cut(line, ",")
		if rest == "," {
			continue // RECORD itself
		}
		sum := sha256.Sum256([]byte(files[name]))
		if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); !strings.HasPrefix(rest, want+",") {
			t.Errorf("RECORD line %q, want its hash %s", line, want)
		}
	}
}
