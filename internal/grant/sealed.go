package grant

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moatsh/moat/internal/fsutil"
)

// sealFile, in the grants directory, records which key sealed the store's
// grants: a store is sealed under one key, from one source, for good.
const sealFile = ".sealed-by"

// sealRecord is sealFile's content. KeyID identifies the key without
// revealing it; Kind is "keyring" or "file"; Source is for messages.
type sealRecord struct {
	KeyID  string `json:"key_id"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
}

// keyID is a one-way name of a grant key.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("moat grant key id v1\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// readSeal returns the store's record, or nil when no grant was sealed
// since stores began keeping one.
func (s *Store) readSeal() (*sealRecord, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, sealFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &KeyError{Source: s.key.Describe(), Why: "reading " + filepath.Join(s.dir, sealFile), Err: err}
	}
	var r sealRecord
	if err := json.Unmarshal(data, &r); err != nil || r.KeyID == "" {
		return nil, &KeyError{Source: s.key.Describe(), Why: filepath.Join(s.dir, sealFile) + " is damaged",
			Remedy: "Restore it from a backup; it names the key the grants were sealed with."}
	}
	return &r, nil
}

// sealedKey returns the key to seal or open grants with. A store sealed
// under the OS keyring's key uses the keyring only: where it cannot be
// reached (no D-Bus session, as over ssh or in CI) this fails, rather
// than falling back to a key file that would seal new grants under
// another key and leave the old ones unreadable. With create, a store
// without a record gets one, created once: of several first grants racing,
// those with another key than the record's are refused before sealing.
func (s *Store) sealedKey(create bool) ([]byte, error) {
	rec, err := s.readSeal()
	if err != nil {
		return nil, err
	}
	ks := s.key
	if rec != nil && rec.Kind == "keyring" {
		ks = keyringOnly(ks)
	}
	key, err := ks.Key()
	if errors.Is(err, ErrNoKeyring) && rec != nil {
		return nil, &KeyError{Source: ks.Describe(), Err: err,
			Why: fmt.Sprintf("the grants in %s are sealed with its key, and it cannot be used here", s.dir),
			Remedy: "Run moat where the OS keyring can be reached: in your desktop session, " +
				"or over ssh with DBUS_SESSION_BUS_ADDRESS set to that session's bus."}
	}
	if err != nil {
		return nil, err
	}
	mine := sealRecord{KeyID: keyID(key), Kind: sourceKind(s.key), Source: ks.Describe()}
	if rec == nil && create {
		if rec, err = s.publishSeal(mine); err != nil {
			return nil, err
		}
	}
	if rec != nil && rec.KeyID != mine.KeyID {
		return nil, &KeyError{Source: ks.Describe(),
			Why:    fmt.Sprintf("the grants in %s were sealed with another key, from %s", s.dir, rec.Source),
			Remedy: fmt.Sprintf("Use moat where that key is available; to start over, move %s away and store your grants again.", s.dir)}
	}
	return key, nil
}

// publishSeal writes the record unless another process did first, and
// returns the record that stands.
func (s *Store) publishSeal(mine sealRecord) (*sealRecord, error) {
	data, _ := json.Marshal(mine)
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	err := fsutil.Publish(filepath.Join(s.dir, sealFile), append(data, '\n'), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return s.readSeal()
	}
	if err != nil {
		return nil, fmt.Errorf("recording the store's key: %w", err)
	}
	return &mine, nil
}

// sourceKind is "file" when ks took its key from a key file.
func sourceKind(ks KeySource) string {
	if _, _, ok := KeyFileInUse(ks); ok {
		return "file"
	}
	return "keyring"
}

// keyringOnly is ks without its key-file fallback.
func keyringOnly(ks KeySource) KeySource {
	f, ok := ks.(*fallbackKey)
	if !ok {
		return ks
	}
	if ff, ok := f.primary.(*fileFirst); ok {
		return ff.keyring
	}
	return f.primary
}

// lockKeyCreation holds an exclusive lock on path+".lock" (its directory
// created 0700) until unlock: the OS keyring's tools replace an item that
// another process stored meanwhile, so creating the key is serialized.
func lockKeyCreation(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return fsutil.Lock(path + ".lock")
}
