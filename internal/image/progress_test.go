package image

import (
	"errors"
	"fmt"
	"slices"
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
		"the command exited with code 100\n\n" +
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

// The engine's stream holds the steps' escape sequences, carriage-return
// progress and the classic builder's own lines: the error keeps only what
// the failing step printed, as a terminal would show it.
func TestStepTrackerCleansTheStream(t *testing.T) {
	var outputs []string
	tr := &stepTracker{emit: func(e Event) {
		if e.Kind == StepOutput {
			outputs = append(outputs, e.Text)
		}
	}}
	for _, chunk := range []string{
		"Step 2/2 : RUN ./build.sh\n", " ---> Running in 0123abcd\n",
		"\x1b[31merror:\x1b[0m bad thing\r\n",
		"progress 10%\rprogress 50%\rprogress 100%\n",
		"\x1b]0;title\x07plain\n",
		"Removing intermediate container 0123abcd\n",
		"---> 4567\n",
	} {
		tr.onMessage(runtime.BuildMessage{Stream: chunk})
	}
	err := tr.failure("moat/run:abc", errors.New("The command '/bin/sh -c ./build.sh' returned a non-zero code: 2"))
	want := []string{"error: bad thing", "progress 100%", "plain"}
	if !slices.Equal(err.Output, want) || !slices.Equal(outputs, want) {
		t.Fatalf("got tail %q, events %q, want %q", err.Output, outputs, want)
	}
	if strings.Count(err.Error(), "./build.sh") != 1 {
		t.Fatalf("the failing command is not named exactly once:\n%s", err)
	}
}

func TestFailureReason(t *testing.T) {
	for in, want := range map[string]string{
		"The command '/bin/sh -c apt-get install -y x' returned a non-zero code: 100":   "the command exited with code 100",
		"process \"/bin/sh -c make\\nall\" did not complete successfully: exit code: 2": "the command exited with code 2",
		"COPY failed: file not found in build context":                                  "COPY failed: file not found in build context",
		"\x1b[31msomething\x1b[0m broke\n":                                              "something broke",
	} {
		if got := failureReason(in); got != want {
			t.Errorf("failureReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildErrorNamesTheKeptDockerfile(t *testing.T) {
	for _, be := range []*BuildError{
		{Tag: "moat/run:abc", Step: `2/2 "RUN x"`, Err: "the command exited with code 1", KeptAt: "/home/u/.moat/builds/abc/Dockerfile"},
		{Tag: "moat/run:abc", Step: `2/2 "RUN x"`, Err: "the command exited with code 1", Output: []string{"out"}, KeptAt: "/home/u/.moat/builds/abc/Dockerfile"},
	} {
		if got := be.Error(); !strings.HasSuffix(got, "\n\nThe Dockerfile that failed is kept in /home/u/.moat/builds/abc/Dockerfile") {
			t.Errorf("got\n%s\nwant the kept Dockerfile named after a blank line", got)
		}
	}
}

func TestStepTrackerKeepsOnlyTheTail(t *testing.T) {
	tr := &stepTracker{emit: func(Event) {}}
	tr.onMessage(runtime.BuildMessage{Stream: "Step 1/1 : RUN long\n"})
	for i := 0; i < 100; i++ {
		tr.onMessage(runtime.BuildMessage{Stream: fmt.Sprintf("line %d\n", i)})
	}
	be := tr.failure("t", errors.New("boom"))
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
