package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ImagesFile records, per moat home, the ID of each image moat built or
// built on, by the reference it used: a tag can be moved by whoever
// controls the engine, the record cannot.
const ImagesFile = "images.json"

// Pins is the record in ImagesFile. Its methods take the store's lock, so
// two moat processes do not lose each other's entries.
type Pins struct{ Store *Store }

// Pinned returns the ID recorded for ref.
func (p Pins) Pinned(ref string) (string, bool) {
	m, err := p.read()
	if err != nil {
		return "", false // an unreadable record trusts nothing: images are rebuilt
	}
	id, ok := m[ref]
	return id, ok
}

// Pin records id as the image under ref.
func (p Pins) Pin(ref, id string) error {
	unlock, err := p.Store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	m, err := p.read()
	if err != nil {
		m = map[string]string{}
	}
	m[ref] = id
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(p.path(), append(data, '\n'), 0o600)
}

func (p Pins) path() string { return filepath.Join(p.Store.Root, ImagesFile) }

func (p Pins) read() (map[string]string, error) {
	data, err := os.ReadFile(p.path())
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p.path(), err)
	}
	return m, nil
}
