// Package pyindex serves Python packages the tests make as a PEP 503
// simple index, enough for 'pip install NAME': each package is one pure
// Python wheel, built in memory.
package pyindex

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Package is one version of a pure Python distribution.
type Package struct {
	Name    string            // distribution name, e.g. "moat-hello"
	Version string            // e.g. "1.0.0"
	Files   map[string]string // path in site-packages -> content, e.g. "moat_hello/__init__.py"
}

// WheelName is the wheel's file name: {name}-{version}-py3-none-any.whl,
// with the name's runs of "-", "_" and "." as one "_".
func (p Package) WheelName() string {
	return p.distName() + "-" + p.Version + "-py3-none-any.whl"
}

func (p Package) distName() string { return separators.ReplaceAllString(p.Name, "_") }

var separators = regexp.MustCompile(`[-_.]+`)

// Normalized is the name as PEP 503 writes it in index URLs.
func Normalized(name string) string {
	return strings.ToLower(separators.ReplaceAllString(name, "-"))
}

// Wheel builds the wheel: the files, and a dist-info directory with
// METADATA, WHEEL and a RECORD listing every file's SHA-256 and size.
func (p Package) Wheel() ([]byte, error) {
	info := p.distName() + "-" + p.Version + ".dist-info/"
	files := map[string]string{
		info + "METADATA": "Metadata-Version: 2.1\nName: " + p.Name + "\nVersion: " + p.Version + "\n",
		info + "WHEEL":    "Wheel-Version: 1.0\nGenerator: moat-pyindex\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	for name, content := range p.Files {
		files[name] = content
	}
	names := make([]string, 0, len(files))
	var record strings.Builder
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		sum := sha256.Sum256([]byte(files[name]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[name]))
	}
	fmt.Fprintf(&record, "%sRECORD,,\n", info)
	files[info+"RECORD"] = record.String()
	names = append(names, info+"RECORD")

	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, name := range names {
		w, err := z.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			return nil, err
		}
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NewHandler serves pkgs as a simple index:
//
//	/simple/                  a link to each project
//	/simple/{normalized}/     a link to each of its wheels, with its SHA-256
//	/packages/{wheel}         the wheel
//
// Anything else is 404.
func NewHandler(pkgs ...Package) (http.Handler, error) {
	wheels := map[string][]byte{}
	projects := map[string][]Package{}
	for _, p := range pkgs {
		w, err := p.Wheel()
		if err != nil {
			return nil, fmt.Errorf("building the wheel of %s %s: %w", p.Name, p.Version, err)
		}
		wheels[p.WheelName()] = w
		projects[Normalized(p.Name)] = append(projects[Normalized(p.Name)], p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /simple/{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, "Simple index", func(b *strings.Builder) {
			for _, name := range slices.Sorted(maps.Keys(projects)) {
				fmt.Fprintf(b, "<a href=\"%s/\">%s</a>\n", name, name)
			}
		})
	})
	mux.HandleFunc("GET /simple/{project}/{$}", func(w http.ResponseWriter, r *http.Request) {
		versions, ok := projects[r.PathValue("project")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		page(w, "Links for "+r.PathValue("project"), func(b *strings.Builder) {
			for _, p := range versions {
				sum := sha256.Sum256(wheels[p.WheelName()])
				fmt.Fprintf(b, "<a href=\"../../packages/%s#sha256=%s\">%s</a>\n",
					html.EscapeString(p.WheelName()), hex.EncodeToString(sum[:]), html.EscapeString(p.WheelName()))
			}
		})
	})
	mux.HandleFunc("GET /packages/{wheel}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := wheels[r.PathValue("wheel")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	return mux, nil
}

func page(w http.ResponseWriter, title string, body func(*strings.Builder)) {
	var b strings.Builder
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>%s</title></head><body>\n", html.EscapeString(title))
	body(&b)
	b.WriteString("</body></html>\n")
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte(b.String()))
}
