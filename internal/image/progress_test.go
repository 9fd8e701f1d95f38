package image

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/runtime"
)

func TestStepTrackerReportsFailingStepAndOutput(t *testing.T) {
	var events []Event
	tr := &stepTracker{emit: func(e Event) { events = append(events, e) }}
	// The engine splits output arbitrarily, even inside lines.
	for _, chunk := range []string{
		"Step 1/3 : FROM debian:bookworm-slim\n", " ---> 1234\n",
		"Step 2/3 : RUN apt-get install -y nosuch\n", " ---> Running in abc\n",
		"Reading package lists...\nE: Unable to ", "locate package nosuch\n",
	} {
		tr.onMessage(runtime.BuildMessage{Stream: chunk})
	}
	err := tr.failure("moat/run:abc", errors.New("The command '/bin/sh -c apt-get install -y nosuch' returned a non-zero code: 100"))
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("got %T, want *BuildError", err)
	}
	want := `building image moat/run:abc: step 2/3 "RUN apt-get install -y nosuch" failed: ` +
		"The command '/bin/sh -c apt-get install -y nosuch' returned a non-zero code: 100\n\n" +
		"last output of the failing step:\n  Reading package lists...\n  E: Unable to locate package nosuch"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
	steps := 0
	for _, e := range events {
		if e.Kind == StepStarted {
			steps++
			if e.Steps != 3 {
				t.Errorf("step event %+v: want 3 steps", e)
			}
		}
	}
	if steps != 2 {
		t.Fatalf("got %d step events, want 2", steps)
	}
}

func TestStepTrackerKeepsOnlyTheTail(t *testing.T) {
	tr := &stepTracker{emit: func(Event) {}}
	tr.onMessage(runtime.BuildMessage{Stream: "Step 1/1 : RUN long\n"})
	for i := 0; i < 100; i++ {
		tr.onMessage(runtime.BuildMessage{Stream: fmt.Sprintf("line %d\n", i)})
	}
	be := tr.failure("t", errors.New("boom")).(*BuildError)
	if len(be.Output) != outputTail || be.Output[0] != "line 75" || !strings.HasSuffix(be.Output[outputTail-1], "99") {
		t.Fatalf("got tail %v, want the last %d lines", be.Output, outputTail)
	}
}

func TestContentHashChangesWithEveryInput(t *testing.T) {
	base := contentHash([]byte("FROM x"), "sha256:1", []byte("init"), "")
	for name, h := range map[string]string{
		"dockerfile": contentHash([]byte("FROM y"), "sha256:1", []byte("init"), ""),
		"base id":    contentHash([]byte("FROM x"), "sha256:2", []byte("init"), ""),
		"init":       contentHash([]byte("FROM x"), "sha256:1", []byte("init2"), ""),
		"boundary":   contentHash([]byte("FROM xi"), "sha256:1", []byte("nit"), ""),
		"moat":       contentHash([]byte("FROM x"), "sha256:1", []byte("init"), "0123"),
	} {
		if h == base {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}
	if again := contentHash([]byte("FROM x"), "sha256:1", []byte("init"), ""); again != base {
		t.Errorf("same input, different hash")
	}
	if got := Tag(base); !strings.HasPrefix(got, Repository+":") || len(got) != len(Repository)+1+20 {
		t.Errorf("Tag = %q", got)
	}
}
