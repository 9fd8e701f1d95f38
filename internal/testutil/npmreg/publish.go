package npmreg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Publish puts a package the test makes into cacheDir, as Fill would
// have cached one from a registry: a tarball holding files (path below
// "package/" -> content; package.json is written from pkg and version
// unless given) and a manifest with its integrity.
func Publish(cacheDir, pkg, version string, files map[string]string) error {
	w := Want{Package: pkg, Version: version}
	tgz, mf, err := cachePaths(cacheDir, w)
	if err != nil {
		return err
	}
	files = maps.Clone(files)
	if _, ok := files["package.json"]; !ok {
		b, _ := json.Marshal(map[string]string{"name": pkg, "version": version, "main": "index.js"})
		files["package.json"] = string(b)
	}
	tarball, err := packTarball(files)
	if err != nil {
		return err
	}
	sha := sha512.Sum512(tarball)
	sha1sum := sha1.Sum(tarball)
	manifest, err := json.Marshal(map[string]any{
		"name": pkg, "version": version,
		"dist": map[string]string{
			"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sha[:]),
			"shasum":    hex.EncodeToString(sha1sum[:]),
			"tarball":   DefaultUpstream + "/" + pkg + "/-/" + tarballName(pkg, version),
		},
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(tgz), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tgz, tarball, 0o644); err != nil {
		return err
	}
	return os.WriteFile(mf, manifest, 0o644)
}

// packTarball is files under "package/" in a gzipped tar, as npm packs.
func packTarball(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
