package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// namesDir holds one link per name of an active run, named after it and
// pointing at the run's ID: whether a name is free is then one record
// read, not a read of every run's record (a home with 300 finished runs
// paid about 40 ms a run for that, twice). A link is only a hint: the run
// it names is read and checked, and a finished, destroyed or unreadable
// one leaves the name free. Homes made before the index get it built from
// their records by IndexNames.
const namesDir = "names"

func (s *Store) namesPath() string { return filepath.Join(s.Root, namesDir) }

// checkName refuses what cannot be a link's name in the index (run names
// are validated where they come from; this is a second line).
func checkName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid run name %q", name)
	}
	return nil
}

// NameHolder returns the ID of the run the index says holds name ("" if
// none), and whether the home has the index at all.
func (s *Store) NameHolder(name string) (id string, indexed bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, err
	}
	target, err := os.Readlink(filepath.Join(s.namesPath(), name))
	switch {
	case err == nil:
		if checkID(target) != nil {
			return "", true, nil // not a run ID: holds nothing
		}
		return target, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return "", s.NamesIndexed(), nil
	default:
		return "", false, fmt.Errorf("reading the run name index: %w", err)
	}
}

// NamesIndexed reports whether the home has the name index.
func (s *Store) NamesIndexed() bool {
	_, err := os.Lstat(s.namesPath())
	return err == nil
}

// IndexNames builds the name index from the run records if the home has
// none. Call it under Lock.
func (s *Store) IndexNames() error {
	if s.NamesIndexed() {
		return nil
	}
	runs, err := s.List()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.Root, ".names-")
	if err != nil {
		return fmt.Errorf("building the run name index: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, r := range runs { // newest first: the newest active holder wins
		if r.Status.Active() && checkName(r.Name) == nil {
			if err := os.Symlink(r.ID, filepath.Join(tmp, r.Name)); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("building the run name index: %w", err)
			}
		}
	}
	if err := os.Rename(tmp, s.namesPath()); err != nil {
		return fmt.Errorf("building the run name index: %w", err)
	}
	return nil
}

// TakeName records that run id holds name. Call it under Lock, once the
// run's record exists.
func (s *Store) TakeName(name, id string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.MkdirAll(s.namesPath(), 0o700); err != nil {
		return fmt.Errorf("recording the run name: %w", err)
	}
	tmp := filepath.Join(s.namesPath(), "."+id)
	os.Remove(tmp)
	if err := os.Symlink(id, tmp); err != nil {
		return fmt.Errorf("recording the run name: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.namesPath(), name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording the run name: %w", err)
	}
	return nil
}

// ReleaseName drops name from the index if run id holds it there: a run
// that ends keeps the index to active runs. Errors are ignored: a stale
// link frees its name anyway once its run is seen finished.
func (s *Store) ReleaseName(name, id string) {
	if held, _, err := s.NameHolder(name); err == nil && held == id {
		os.Remove(filepath.Join(s.namesPath(), name))
	}
}
