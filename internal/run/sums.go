package run

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"

	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/image"
)

// fileSum is a file's SHA-256 as cachedFileSum remembers it.
type fileSum struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
	Inode uint64 `json:"inode"`
	Sum   string `json:"sha256"`
}

// cachedFileSum returns the SHA-256 of a file moat hashes at every run (its
// own binary, which docker:dind images hold a copy of: tens of MB, about
// 50 ms to hash), remembered by what changes when a file is replaced or
// rewritten: path, size, modification time and inode. The record is in
// the moat home, out of the agent's reach.
func (m *Manager) cachedFileSum(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fileSum{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.Inode = st.Ino
	}
	record := filepath.Join(m.Store.Root, "sums.json")
	sums := map[string]fileSum{}
	if data, err := os.ReadFile(record); err == nil {
		json.Unmarshal(data, &sums)
	}
	if s, ok := sums[path]; ok && s.Size == key.Size && s.MTime == key.MTime && s.Inode == key.Inode && len(s.Sum) == 64 {
		return s.Sum, nil
	}
	sum, err := image.FileSum(path)
	if err != nil {
		return "", err
	}
	key.Sum = sum
	sums[path] = key
	if data, err := json.Marshal(sums); err == nil && os.MkdirAll(m.Store.Root, 0o700) == nil {
		fsutil.WriteFileAtomic(record, data, 0o600) // a cache: a failed write costs a hash
	}
	return sum, nil
}
