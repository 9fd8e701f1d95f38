package grant

import (
	"github.com/moatsh/moat/internal/fsutil"
	"github.com/moatsh/moat/internal/plural"

	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// fileExt ends every grant file's name: <dir>/<name>.grant.
const fileExt = ".grant"

// formatVersion is the version of the grant file layout.
const formatVersion = 1

// Store keeps grants encrypted under dir (e.g. ~/.moat/grants): one file per
// grant, named <name>.grant, written atomically with mode 0600.
//
// A file is JSON: {"version":1,"grant":{...metadata...},"nonce":...,
// "ciphertext":...}. The metadata stays readable so List needs no key; the
// secret is sealed with AES-256-GCM under a random 96-bit nonce, and the
// additional data binds the grant name asked for plus the exact metadata
// bytes. So editing the metadata, or renaming one grant's file to another
// name, makes Get fail instead of injecting a credential where it was not
// granted.
type Store struct {
	dir string
	key KeySource
	now func() time.Time
}

// NewStore returns a store of grants under dir, encrypted with key.
func NewStore(dir string, key KeySource) *Store {
	return &Store{dir: dir, key: key, now: time.Now}
}

// Dir returns the directory holding the grant files.
func (s *Store) Dir() string { return s.dir }

// KeySource returns the store's key source, to tell the user where the key is.
func (s *Store) KeySource() KeySource { return s.key }

type fileData struct {
	Version    int             `json:"version"`
	Grant      json.RawMessage `json:"grant"`
	Nonce      []byte          `json:"nonce"`
	Ciphertext []byte          `json:"ciphertext"`
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name+fileExt) }

// additionalData binds a sealed secret to the name it is stored under and
// to its metadata.
func additionalData(name string, meta []byte) []byte {
	return slices.Concat([]byte("moat grant v1\x00"), []byte(name), []byte{0}, meta)
}

// aead returns the cipher for the store's key; sealing (create) records
// which key that is, for good (see sealedKey).
func (s *Store) aead(create bool) (cipher.AEAD, error) {
	key, err := s.sealedKey(create)
	if err != nil {
		return nil, err
	}
	if len(key) != keySize {
		return nil, &KeyError{Source: s.key.Describe(), Why: fmt.Sprintf("the key is %s, want %d", plural.Count(len(key), "byte"), keySize)}
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Put stores g with its secret, replacing any grant of the same name. It
// validates and normalizes g first (see Grant.Normalize) and sets CreatedAt
// when it is zero.
func (s *Store) Put(g Grant, secret Secret) error {
	g, err := g.Normalize()
	if err != nil {
		return err
	}
	if err := validateSecret(g, secret); err != nil {
		return err
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now().UTC().Truncate(time.Second)
	}
	data, err := s.seal(g, secret)
	if err != nil {
		return fmt.Errorf("storing grant %q: %w", g.Name, err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("storing grant %q: %w", g.Name, err)
	}
	if err := fsutil.WriteFileAtomic(s.path(g.Name), data, 0o600); err != nil {
		return fmt.Errorf("storing grant %q: %w", g.Name, err)
	}
	return nil
}

func (s *Store) seal(g Grant, secret Secret) ([]byte, error) {
	aead, err := s.aead(true)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	ct := aead.Seal(nil, nonce, secret.bytes(), additionalData(g.Name, meta))
	return json.Marshal(fileData{Version: formatVersion, Grant: meta, Nonce: nonce, Ciphertext: ct})
}

// Get returns the grant called name and its decrypted secret. A missing
// grant is a *NotFoundError; a file that was edited, moved from another
// name or sealed under another key is a *CorruptError.
func (s *Store) Get(name string) (Grant, Secret, error) {
	fd, g, err := s.load(name)
	if err != nil {
		return Grant{}, Secret{}, err
	}
	aead, err := s.aead(false)
	if err != nil {
		return Grant{}, Secret{}, fmt.Errorf("reading grant %q: %w", name, err)
	}
	if len(fd.Nonce) != aead.NonceSize() {
		return Grant{}, Secret{}, s.corrupt(name, "the nonce has the wrong length", nil)
	}
	plain, err := aead.Open(nil, fd.Nonce, fd.Ciphertext, additionalData(name, fd.Grant))
	if err != nil {
		return Grant{}, Secret{}, &CorruptError{Name: name, Path: s.path(name), Key: s.key.Describe(),
			Why: "it does not authenticate: it was edited, copied from another grant, or sealed with another key"}
	}
	secret := Secret{p: &secretBytes{b: plain}}
	return g, secret, nil
}

// load reads and parses name's file and checks its metadata, without
// decrypting anything.
func (s *Store) load(name string) (fileData, Grant, error) {
	if err := ValidateName(name); err != nil {
		return fileData{}, Grant{}, err
	}
	raw, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fileData{}, Grant{}, &NotFoundError{Name: name}
	}
	if err != nil {
		return fileData{}, Grant{}, fmt.Errorf("reading grant %q: %w", name, err)
	}
	var fd fileData
	if err := json.Unmarshal(raw, &fd); err != nil {
		return fileData{}, Grant{}, s.corrupt(name, "it is not a grant file", nil)
	}
	if fd.Version != formatVersion {
		return fileData{}, Grant{}, s.corrupt(name, fmt.Sprintf("unknown format version %d", fd.Version), nil)
	}
	var g Grant
	if err := json.Unmarshal(fd.Grant, &g); err != nil {
		return fileData{}, Grant{}, s.corrupt(name, "its metadata cannot be parsed", nil)
	}
	if g.Name != name {
		return fileData{}, Grant{}, s.corrupt(name, fmt.Sprintf("it holds grant %q (files cannot be moved between names)", g.Name), nil)
	}
	return fd, g, nil
}

func (s *Store) corrupt(name, why string, err error) error {
	return &CorruptError{Name: name, Path: s.path(name), Why: why, Err: err}
}

// List returns every stored grant's metadata, sorted by name, without
// reading the key or decrypting any secret. Metadata is authenticated only
// by Get, so List is for display. A missing directory means no grants; an
// unreadable file fails the whole listing with a *CorruptError.
func (s *Store) List() ([]Grant, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	var out []Grant
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), fileExt)
		if !ok || !e.Type().IsRegular() || ValidateName(name) != nil {
			continue // temporary files and strangers
		}
		_, g, err := s.load(name)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Delete removes the grant called name; a missing one is a *NotFoundError.
// It works on corrupt files too, so revoking is always a way out.
func (s *Store) Delete(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	err := os.Remove(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return &NotFoundError{Name: name}
	}
	if err != nil {
		return fmt.Errorf("revoking grant %q: %w", name, err)
	}
	fsutil.SyncDir(s.dir)
	return nil
}
