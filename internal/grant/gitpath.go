package grant

import (
	"mime"
	"net/http"
	"strings"
)

// request is what isGitHTTP looks at in a request as it goes upstream.
type request struct {
	Method      string
	Path        string // the escaped path, as sent on the wire
	Query       string // the raw query, without "?"
	ContentType string
}

func shapeOf(r *http.Request) request {
	return request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type")}
}

// isGitHTTP reports whether req is a git smart-HTTP or git LFS request for
// a repository, in the shape git and git-lfs send:
//
//	GET  /OWNER/REPO[.git]/info/refs?service=git-upload-pack (or git-receive-pack)
//	POST /OWNER/REPO[.git]/git-upload-pack   Content-Type: application/x-git-upload-pack-request
//	POST /OWNER/REPO[.git]/git-receive-pack  Content-Type: application/x-git-receive-pack-request
//	GET or POST /OWNER/REPO[.git]/info/lfs/...  (POST with Content-Type: application/vnd.git-lfs+json)
//
// The path must be in normal form (see normalPath): a path that percent
// encoding, dot segments, empty segments or parameters make mean something
// else to one server than to another gets no credential.
func isGitHTTP(req request) bool {
	path, ok := normalPath(req.Path)
	if !ok {
		return false
	}
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) < 3 || !repoSegment(parts[0]) || !repoSegment(parts[1]) {
		return false
	}
	switch rest := parts[2]; {
	case rest == "info/refs":
		return req.Method == http.MethodGet && (req.Query == "service=git-upload-pack" || req.Query == "service=git-receive-pack")
	case rest == "git-upload-pack" || rest == "git-receive-pack":
		return req.Method == http.MethodPost && mediaType(req.ContentType) == "application/x-"+rest+"-request"
	case strings.HasPrefix(rest, "info/lfs/") && len(rest) > len("info/lfs/"):
		switch req.Method {
		case http.MethodGet:
			return true
		case http.MethodPost:
			return mediaType(req.ContentType) == "application/vnd.git-lfs+json"
		}
	}
	return false
}

// normalPath reports whether the escaped path p is in normal form, and
// returns it: absolute, no empty segment ("//"), no "." or ".." segment,
// no ";" parameters, no backslash, and no percent encoding at all (git
// hosts' repository paths never need it, and a server that decodes %2e%2e
// or %2f would see another path than the proxy). A non-canonical path is
// refused rather than rewritten, so the proxy judges exactly what it sends.
func normalPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "%;\\?#") {
		return "", false
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c < 0x21 || c > 0x7e {
				return "", false
			}
		}
	}
	return p, true
}

// repoSegment reports whether s can be an owner or repository name.
func repoSegment(s string) bool {
	if s == "" || strings.Trim(s, ".") == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// mediaType returns ct's media type, lower-case, without parameters.
func mediaType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return t
}
