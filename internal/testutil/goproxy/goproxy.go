// Package goproxy serves Go modules the tests make, over the module proxy
// protocol (GOPROXY): enough for 'go mod download' and 'go get', with the
// go.sum lines that let the go command check what it downloaded without
// asking a checksum database.
package goproxy

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Module is one version of a module.
type Module struct {
	Path    string            // module path, e.g. "example.test/hello"
	Version string            // semantic version, e.g. "v1.0.0"
	Files   map[string]string // file path in the module -> content; "go.mod" is required
}

// Zip is the module's zip as the proxy protocol serves it: every file
// under "path@version/".
func (m Module) Zip() ([]byte, error) {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, name := range m.fileNames() {
		w, err := z.Create(m.prefix() + name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(m.Files[name])); err != nil {
			return nil, err
		}
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GoSum is the module's two go.sum lines (its files, its go.mod), as the
// go command computes them ("h1:", the dirhash of the files).
func (m Module) GoSum() string {
	files := map[string]string{}
	for _, name := range m.fileNames() {
		files[m.prefix()+name] = m.Files[name]
	}
	return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n",
		m.Path, m.Version, hash1(files), m.Path, m.Version, hash1(map[string]string{"go.mod": m.Files["go.mod"]}))
}

func (m Module) prefix() string { return m.Path + "@" + m.Version + "/" }

func (m Module) fileNames() []string {
	names := make([]string, 0, len(m.Files))
	for name := range m.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// hash1 is the go command's "h1:" hash of files: the SHA-256 of a listing
// of each file's SHA-256 and name, sorted by name.
func hash1(files map[string]string) string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%x  %s\n", sha256.Sum256([]byte(files[name])), name)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewHandler serves mods over the module proxy protocol, at the root:
//
//	/{escaped path}/@v/list                the versions, one a line
//	/{escaped path}/@v/{version}.info      {"Version", "Time"}
//	/{escaped path}/@v/{version}.mod       the go.mod
//	/{escaped path}/@v/{version}.zip       the zip
//	/{escaped path}/@latest                the highest version's .info
//
// Anything else is 404, which the go command reads as "no such module".
func NewHandler(mods ...Module) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/@")
		if !ok {
			http.NotFound(w, r)
			return
		}
		var versions []Module
		for _, m := range mods {
			if escapePath(m.Path) == path {
				versions = append(versions, m)
			}
		}
		serve(w, r, versions, rest)
	})
}

func serve(w http.ResponseWriter, r *http.Request, versions []Module, rest string) {
	if len(versions) == 0 {
		http.NotFound(w, r)
		return
	}
	if rest == "v/list" {
		for _, m := range versions {
			fmt.Fprintln(w, m.Version)
		}
		return
	}
	if rest == "latest" {
		writeInfo(w, versions[len(versions)-1])
		return
	}
	file, ok := strings.CutPrefix(rest, "v/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	for _, m := range versions {
		switch file {
		case m.Version + ".info":
			writeInfo(w, m)
			return
		case m.Version + ".mod":
			w.Write([]byte(m.Files["go.mod"]))
			return
		case m.Version + ".zip":
			z, err := m.Zip()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/zip")
			w.Write(z)
			return
		}
	}
	http.NotFound(w, r)
}

// infoTime is the commit time every version reports.
var infoTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func writeInfo(w http.ResponseWriter, m Module) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Version": m.Version, "Time": infoTime})
}

// escapePath is the proxy protocol's case encoding of a module path: each
// upper-case letter becomes "!" and its lower case.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
