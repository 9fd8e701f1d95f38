package factory

import (
	"strings"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestBuildProgress(t *testing.T) {
	built := []image.Event{
		{Kind: image.BuildStarted, Text: "moat/run:abc"},
		{Kind: image.StepStarted, Step: 3, Steps: 7, Text: "RUN apt-get update"},
		{Kind: image.StepOutput, Text: "Unpacking git (1:2.39.5) ..."},
		{Kind: image.BuildDone, Text: "moat/run:abc"},
	}
	failed := []image.Event{
		{Kind: image.BuildStarted, Text: "moat/run:abc"},
		{Kind: image.StepStarted, Step: 2, Steps: 2, Text: "RUN false"},
		{Kind: image.StepOutput, Text: "oops"},
		{Kind: image.BuildFailed, Text: "moat/run:abc"},
	}
	const started = "Building image moat/run:abc (first run with these dependencies; later runs reuse it)\n"
	tests := []struct {
		name   string
		tty    bool
		events []image.Event
		want   string
	}{
		{name: "pipe: a line per step", events: built, want: started +
			"  Step 3/7: RUN apt-get update\n" +
			"Built image moat/run:abc\n"},
		{name: "terminal: one redrawn line", tty: true, events: built, want: started +
			"\r\x1b[K  step 3/7: RUN apt-get update" +
			"\r\x1b[K  step 3/7: Unpacking git (1:2.39.5) ..." +
			"\r\x1b[KBuilt image moat/run:abc\n"},
		{name: "terminal: a failed build clears its line for the error", tty: true, events: failed, want: started +
			"\r\x1b[K  step 2/2: RUN false" +
			"\r\x1b[K  step 2/2: oops" +
			"\r\x1b[K"},
		{name: "pipe: a failed build", events: failed, want: started + "  Step 2/2: RUN false\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, errOut := iostreams.Test()
			ios.SetTTY(false, false, tt.tty)
			p := newBuildProgress(ios)
			for _, e := range tt.events {
				p.onEvent(e)
			}
			if p.stopBeat != nil {
				t.Errorf("the heartbeat goes on after the build ended")
			}
			if errOut.String() != tt.want {
				t.Fatalf("got %q, want %q", errOut, tt.want)
			}
		})
	}
	if got := truncate(strings.Repeat("é", 10), 5); got != "éééé…" {
		t.Fatalf("truncate cuts runes: got %q", got)
	}
}

// A build on a pipe that prints nothing for a while says it is still
// working, with the step and how long it has run; once it ended, a late
// tick prints nothing.
func TestBuildProgressHeartbeat(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	p := newBuildProgress(ios)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	p.onEvent(image.Event{Kind: image.BuildStarted, Text: "moat/run:abc"})
	beat := p.stopBeat
	p.onEvent(image.Event{Kind: image.StepStarted, Step: 3, Steps: 7, Text: "RUN apt-get update"})
	now = now.Add(20 * time.Second)
	p.heartbeat(beat)
	p.onEvent(image.Event{Kind: image.BuildDone, Text: "moat/run:abc"})
	p.heartbeat(beat)
	want := "Building image moat/run:abc (first run with these dependencies; later runs reuse it)\n" +
		"  Step 3/7: RUN apt-get update\n" +
		"  ... still working on step 3/7 (20s)\n" +
		"Built image moat/run:abc\n"
	if errOut.String() != want {
		t.Fatalf("got %q, want %q", errOut, want)
	}
}
