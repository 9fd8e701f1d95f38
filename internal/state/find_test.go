package state

import (
	"testing"
	"time"
)

func TestFind(t *testing.T) {
	now := time.Now()
	runs := []*Run{ // newest first, as List returns them
		{ID: "abc111", Name: "web", Status: Exited, CreatedAt: now},
		{ID: "abc222", Name: "web", Status: Running, CreatedAt: now.Add(-time.Minute)},
		{ID: "def333", Name: "db", Status: Running, CreatedAt: now.Add(-2 * time.Minute)},
	}
	running := func(r *Run) bool { return r.Status == Running }
	tests := []struct {
		ref     string
		match   func(*Run) bool
		wantID  string
		wantErr string
	}{
		{ref: "", wantID: "abc111"},
		{ref: "", match: running, wantID: "abc222"},
		{ref: "def333", wantID: "def333"},
		{ref: "web", wantID: "abc111"},
		{ref: "def", wantID: "def333"},
		{ref: "abc", wantErr: `run id prefix "abc" is ambiguous: it matches 2 runs`},
		{ref: "zzz", wantErr: `no run matches "zzz"`},
		{ref: "", match: func(*Run) bool { return false }, wantErr: "no running run"},
	}
	for _, tt := range tests {
		got, err := Find(runs, tt.ref, tt.match, "running")
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Find(%q): got err %v, want %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.ID != tt.wantID {
			t.Errorf("Find(%q): got %v, %v; want %s", tt.ref, got, err, tt.wantID)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	old := &Run{ID: NewID(), Name: "a", CreatedAt: time.Now().Add(-time.Hour)}
	r := &Run{ID: NewID(), Name: "b", Status: Running, CreatedAt: time.Now()}
	for _, run := range []*Run{old, r} {
		if err := s.Create(run); err != nil {
			t.Fatal(err)
		}
	}
	r.SetExit(Exited, 7, time.Now())
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	runs, err := s.List()
	if err != nil || len(runs) != 2 {
		t.Fatalf("got %d runs, %v; want 2", len(runs), err)
	}
	if runs[0].ID != r.ID || *runs[0].ExitCode != 7 || runs[0].Status != Exited {
		t.Fatalf("got %+v, want newest run %s exited 7", runs[0], r.ID)
	}
	if err := s.Delete(old.ID); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.List(); len(runs) != 1 {
		t.Fatalf("got %d runs after delete, want 1", len(runs))
	}
	if err := s.Delete("../x"); err == nil {
		t.Fatal("Delete accepted a path, want an error")
	}
}

func TestLockExcludes(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	unlock, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u, err := s.Lock()
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second Lock succeeded while the first was held")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the second Lock did not get the lock after unlock")
	}
}
