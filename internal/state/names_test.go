package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestNameIndex(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	runs := []*Run{
		{ID: "aaaaaaaaaaaa", Name: "web", Status: Exited, CreatedAt: at},
		{ID: "bbbbbbbbbbbb", Name: "web", Status: Running, CreatedAt: at.Add(time.Minute)},
		{ID: "cccccccccccc", Name: "db", Status: Exited, CreatedAt: at.Add(2 * time.Minute)},
	}
	for _, r := range runs {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	// A home made before the index: not indexed, so callers read records.
	if id, indexed, err := s.NameHolder("web"); err != nil || indexed || id != "" {
		t.Fatalf("NameHolder before the index = %q, %v, %v; want not indexed", id, indexed, err)
	}
	if err := s.IndexNames(); err != nil {
		t.Fatal(err)
	}
	holder := func(name string) string {
		t.Helper()
		id, indexed, err := s.NameHolder(name)
		if err != nil || !indexed {
			t.Fatalf("NameHolder(%s) = %q, %v, %v; want indexed", name, id, indexed, err)
		}
		return id
	}
	if got := holder("web"); got != "bbbbbbbbbbbb" {
		t.Errorf("web is held by %q after indexing, want the active run", got)
	}
	if got := holder("db"); got != "" {
		t.Errorf("db is held by %q after indexing, want no one (its run finished)", got)
	}
	// Indexing again changes nothing.
	if err := s.TakeName("db", "cccccccccccc"); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexNames(); err != nil || holder("db") != "cccccccccccc" {
		t.Errorf("a second IndexNames rebuilt the index (db held by %q, %v)", holder("db"), err)
	}
	// Release only by the holder.
	s.ReleaseName("web", "aaaaaaaaaaaa")
	if got := holder("web"); got != "bbbbbbbbbbbb" {
		t.Errorf("a run that does not hold web released it (now %q)", got)
	}
	s.ReleaseName("web", "bbbbbbbbbbbb")
	if got := holder("web"); got != "" {
		t.Errorf("web still held by %q after its holder released it", got)
	}
	// Deleting a run drops its name.
	if err := s.Delete("cccccccccccc"); err != nil {
		t.Fatal(err)
	}
	if got := holder("db"); got != "" {
		t.Errorf("db still held by %q after its run was deleted", got)
	}
	// A link that names no run ID holds nothing.
	if err := os.Symlink("../../etc", filepath.Join(s.Root, namesDir, "odd")); err != nil {
		t.Fatal(err)
	}
	if got := holder("odd"); got != "" {
		t.Errorf("a link to a path holds odd for %q, want no one", got)
	}
	for _, bad := range []string{"", ".hidden", "a/b", "..", `a\b`} {
		if _, _, err := s.NameHolder(bad); err == nil {
			t.Errorf("NameHolder(%q) took a name that cannot be a link", bad)
		}
	}
}
