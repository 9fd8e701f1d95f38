package fsutil

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, content := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if string(got) != content || fi.Mode().Perm() != 0o600 {
			t.Fatalf("got %q mode %v, want %q 0600", got, fi.Mode(), content)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestPublishCreatesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := Publish(path, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Publish(path, []byte("second"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Publish: got %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Fatalf("got %q, want the first writer's file", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLockContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := LockContext(context.Background(), path, func() { t.Error("waited for a free lock") })
	if err != nil {
		t.Fatal(err)
	}
	// A second holder waits, is told so, and gets the lock once it is free.
	waited := make(chan struct{})
	got := make(chan func(), 1)
	go func() {
		u, err := LockContext(context.Background(), path, func() { close(waited) })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	<-waited
	select {
	case <-got:
		t.Fatal("took a held lock")
	default:
	}
	unlock()
	(<-got)()

	// A holder that gives up returns its context's cause, and the lock it
	// would have had is free again.
	unlock, err = LockContext(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted")
	done := make(chan error, 1)
	go func() {
		_, err := LockContext(ctx, path, func() { cancel(cause) })
		done <- err
	}()
	if err := <-done; !errors.Is(err, cause) {
		t.Fatalf("gave up with %v, want %v", err, cause)
	}
	unlock()
	again, err := LockContext(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	again()
}

// TestWriteErrorsNameTheTarget: a write that fails names the file the
// caller asked for, never the temporary file beside it, and keeps its
// cause.
func TestWriteErrorsNameTheTarget(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir", "x.json")
	for name, write := range map[string]func() error{
		"WriteFileAtomic": func() error { return WriteFileAtomic(missing, []byte("{}"), 0o644) },
		"Publish":         func() error { return Publish(missing, []byte("{}"), 0o644) },
	} {
		err := write()
		if err == nil || err.Error() != "write "+missing+": no such file or directory" || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v, want the target's path and ErrNotExist", name, err)
		}
	}
	dir := t.TempDir()
	existing := filepath.Join(dir, "taken")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Publish(existing, []byte("x"), 0o644); !errors.Is(err, fs.ErrExist) || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("Publish over an existing file: got %v, want ErrExist naming it", err)
	}
}
