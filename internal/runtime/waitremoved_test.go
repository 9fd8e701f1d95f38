package runtime

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// fakeRemovedEngine answers like Engine 20.10 for a container removed
// between moat's inspection and its subscription to events: the inspection
// finds it; a wait for the condition "removed" never ends (the engine lost
// it); the events stream replays the destroy only to a subscriber that asks
// from the container's creation on.
func fakeRemovedEngine(t *testing.T, id, created string, gone bool) *Docker {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1.41/containers/"+id+"/json", func(w http.ResponseWriter, r *http.Request) {
		if gone {
			http.Error(w, `{"message":"No such container: `+id+`"}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Id": id, "Created": created, "State": map[string]any{"Status": "exited"}})
	})
	mux.HandleFunc("/v1.41/containers/"+id+"/wait", func(w http.ResponseWriter, r *http.Request) {
		if gone {
			http.Error(w, `{"message":"No such container: `+id+`"}`, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // lost: never answers
	})
	mux.HandleFunc("/v1.41/events", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		since := r.URL.Query().Get("since")
		want, _ := time.Parse(time.RFC3339Nano, created)
		if since != "" && !strings.Contains(r.URL.Query().Get("filters"), "destroy") {
			t.Errorf("events asked for %s, want the destroy event", r.URL.Query().Get("filters"))
		}
		if secs, _, _ := strings.Cut(since, "."); secs != "" && mustInt(t, secs) <= want.Unix() {
			json.NewEncoder(w).Encode(map[string]any{"Type": "container", "Action": "destroy", "Actor": map[string]any{"ID": id},
				"time": want.Unix() + 1, "timeNano": want.Add(time.Second).UnixNano()})
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return &Docker{cli: cli, host: srv.URL}
}

func mustInt(t *testing.T, s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Errorf("events since %q: %v", s, err)
	}
	return n
}

func TestWaitRemovedSeesARemovalBeforeItsSubscription(t *testing.T) {
	id := strings.Repeat("ab", 32)
	d := fakeRemovedEngine(t, id, "2026-12-05T08:16:39.120249004Z", false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitRemoved(ctx, id); err != nil {
		t.Fatalf("WaitRemoved: %v; want the replayed destroy event to end the wait", err)
	}
}

func TestWaitRemovedOnAContainerAlreadyGone(t *testing.T) {
	id := strings.Repeat("cd", 32)
	d := fakeRemovedEngine(t, id, "", true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.WaitRemoved(ctx, id); err != nil {
		t.Fatalf("WaitRemoved on a container already gone: %v, want nil", err)
	}
}
