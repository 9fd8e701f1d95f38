package state

import "testing"

func TestPinsRoundTrip(t *testing.T) {
	p := Pins{Store: &Store{Root: t.TempDir()}}
	if _, ok := p.Pinned("moat/run:abc"); ok {
		t.Fatal("an empty record has a pin")
	}
	if err := p.Pin("moat/run:abc", "sha256:1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Pin("debian:bookworm-slim", "sha256:2"); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"moat/run:abc": "sha256:1", "debian:bookworm-slim": "sha256:2"} {
		if id, ok := p.Pinned(ref); !ok || id != want {
			t.Errorf("Pinned(%q) = %q, %v; want %q", ref, id, ok, want)
		}
	}
}
