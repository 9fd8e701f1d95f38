package npmreg

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// NewHandler serves cacheDir as an npm registry, enough for 'npm install
// --registry': GET or HEAD of
//
//	/{package}                              the packument: every cached version
//	/{package}/{version}                    one version's manifest ("latest" is the highest)
//	/{package}/-/{basename}-{version}.tgz   the tarball
//
// where a scoped package's slash may be sent as %2f. Manifests point their
// dist.tarball at this server, as the request's Host names it. Anything
// else is 404 {"error":"not found"}; no request reads outside cacheDir, as
// only names npm accepts map to files.
func NewHandler(cacheDir string) http.Handler {
	return &handler{dir: cacheDir}
}

type handler struct{ dir string }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	pkg, rest := splitPath(r.URL.Path)
	dir, err := pkgDir(h.dir, pkg)
	switch {
	case err != nil:
		notFound(w)
	case len(rest) == 0:
		h.servePackument(w, r, pkg, dir)
	case len(rest) == 1:
		h.serveManifest(w, r, pkg, dir, rest[0])
	case len(rest) == 2 && rest[0] == "-":
		h.serveTarball(w, r, pkg, dir, rest[1])
	default:
		notFound(w)
	}
}

// splitPath splits a request's (unescaped) path into the package name and
// the segments after it.
func splitPath(p string) (pkg string, rest []string) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	n := 1
	if strings.HasPrefix(parts[0], "@") && len(parts) > 1 {
		n = 2
	}
	return strings.Join(parts[:n], "/"), parts[n:]
}

func (h *handler) servePackument(w http.ResponseWriter, r *http.Request, pkg, dir string) {
	versions := cachedVersions(dir)
	if len(versions) == 0 {
		notFound(w)
		return
	}
	docs := map[string]json.RawMessage{}
	for _, v := range versions {
		doc, err := rewrittenManifest(r, pkg, dir, v)
		if err != nil {
			continue // removed, or half written by hand: not a cached version
		}
		docs[v] = doc
	}
	if len(docs) == 0 {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":      pkg,
		"dist-tags": map[string]string{"latest": versions[len(versions)-1]},
		"versions":  docs,
	})
}

func (h *handler) serveManifest(w http.ResponseWriter, r *http.Request, pkg, dir, version string) {
	if version == "latest" {
		versions := cachedVersions(dir)
		if len(versions) == 0 {
			notFound(w)
			return
		}
		version = versions[len(versions)-1]
	}
	if !validVersion(version) {
		notFound(w)
		return
	}
	doc, err := rewrittenManifest(r, pkg, dir, version)
	if err != nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (h *handler) serveTarball(w http.ResponseWriter, r *http.Request, pkg, dir, file string) {
	_, base, _ := splitName(pkg)
	version, ok := strings.CutPrefix(file, base+"-")
	version, ok2 := strings.CutSuffix(version, ".tgz")
	if !ok || !ok2 || !validVersion(version) {
		notFound(w)
		return
	}
	// Only a version whose manifest is cached is served: its tarball is
	// complete and was verified.
	if _, err := os.Stat(filepath.Join(dir, version+".json")); err != nil {
		notFound(w)
		return
	}
	f, err := os.Open(filepath.Join(dir, version+".tgz"))
	if err != nil {
		notFound(w)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		notFound(w)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, file, fi.ModTime(), f)
}

// cachedVersions lists the versions cached in dir, lowest first.
func cachedVersions(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var versions []string
	for _, e := range entries {
		v, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && validVersion(v) && e.Type().IsRegular() {
			versions = append(versions, v)
		}
	}
	slices.SortFunc(versions, compareVersions)
	return versions
}

// rewrittenManifest returns the cached manifest of pkg's version with its
// dist.tarball pointing at the server r was sent to.
func rewrittenManifest(r *http.Request, pkg, dir, version string) (json.RawMessage, error) {
	raw, err := os.ReadFile(filepath.Join(dir, version+".json"))
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var dist map[string]any
	if err := json.Unmarshal(doc["dist"], &dist); err != nil || dist == nil {
		return nil, errors.New("no dist")
	}
	dist["tarball"] = baseURL(r) + pkg + "/-/" + tarballName(pkg, version)
	if doc["dist"], err = json.Marshal(dist); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// baseURL is this server's URL as the client reached it, with a final slash.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" || strings.ContainsAny(host, "/\\?#@") {
		host = "localhost" // a client that cannot name the server gets a guess
	}
	return scheme + "://" + host + "/"
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

// Server is a running registry.
type Server struct {
	URL  string // with a final slash, ready for --registry
	srv  *http.Server
	done chan struct{}
	err  error // why Serve returned, once done is closed
}

// Serve serves cacheDir's registry on addr (host:port; port 0 picks one)
// until Close.
func Serve(cacheDir, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String() + "/",
		srv:  &http.Server{Handler: NewHandler(cacheDir)},
		done: make(chan struct{}),
	}
	go func() {
		s.err = s.srv.Serve(ln)
		close(s.done)
	}()
	return s, nil
}

// Wait blocks until the server stops, returning why (nil after Close).
func (s *Server) Wait() error {
	<-s.done
	if errors.Is(s.err, http.ErrServerClosed) {
		return nil
	}
	return s.err
}

// Close stops the server and its connections at once; it may be called
// more than once.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}
