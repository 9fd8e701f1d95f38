package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/moatsh/moat/internal/fsutil"
)

// Store keeps one approval record per workspace in Dir ($MOAT_HOME/trust),
// a directory the agent never sees.
type Store struct{ Dir string }

// Record is what the user approved for a workspace.
type Record struct {
	Workspace   string       `json:"workspace"`
	ApprovedAt  time.Time    `json:"approved_at"`
	Permissions []Permission `json:"permissions"`
}

// path names a workspace's record after a digest of its path, so any path
// maps to one plain file name.
func (s *Store) path(workspace string) string {
	sum := sha256.Sum256([]byte(workspace))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:16])+".json")
}

// Approved returns the permissions approved for workspace (an absolute,
// symlink-free path); none when nothing was approved yet.
func (s *Store) Approved(workspace string) ([]Permission, error) {
	data, err := os.ReadFile(s.path(workspace))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the approval of %s: %w", workspace, err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reading the approval of %s in %s: %w", workspace, s.path(workspace), err)
	}
	if r.Workspace != workspace {
		return nil, nil // a digest collision cannot approve another workspace
	}
	return r.Permissions, nil
}

// Approve records permissions as what workspace may have, replacing what
// was approved before: the user approved what they were shown.
func (s *Store) Approve(workspace string, permissions []Permission, now time.Time) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("recording the approval: %w", err)
	}
	data, err := json.MarshalIndent(Record{Workspace: workspace, ApprovedAt: now.UTC(), Permissions: Sorted(permissions)}, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(s.path(workspace), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("recording the approval: %w", err)
	}
	return nil
}
