package npmreg

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"testing"
)

// TestPublishCachesWhatFillWouldAccept: a published package passes the
// check Fill applies to its cache (the manifest's integrity matches the
// tarball), and its tarball holds the files and a package.json under
// "package/", as npm unpacks it.
func TestPublishCachesWhatFillWouldAccept(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	if err := Publish(cache, "@moat-test/tiny", "1.0.0", map[string]string{"index.js": "module.exports = 1\n"}); err != nil {
		t.Fatal(err)
	}
	w := Want{Package: "@moat-test/tiny", Version: "1.0.0"}
	tgz, mf, err := cachePaths(cache, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkCached(tgz, mf, w); err != nil {
		t.Fatalf("the published package fails the cache check: %v", err)
	}
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	var pj struct{ Name, Version, Main string }
	json.Unmarshal([]byte(files["package/package.json"]), &pj)
	if files["package/index.js"] != "module.exports = 1\n" || pj.Name != w.Package || pj.Version != w.Version || pj.Main != "index.js" {
		t.Errorf("the tarball holds %v", files)
	}
	if err := Publish(cache, "../evil", "1.0.0", nil); err == nil {
		t.Error("Publish took a name that is no npm package name")
	}
}
