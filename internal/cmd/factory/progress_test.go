package factory

import (
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/iostreams"
)

func TestBuildProgress(t *testing.T) {
	events := []image.Event{
		{Kind: image.BuildStarted, Text: "moat/run:abc"},
		{Kind: image.StepStarted, Step: 3, Steps: 7, Text: "RUN apt-get update"},
		{Kind: image.StepOutput, Text: "Unpacking git (1:2.39.5) ..."},
		{Kind: image.BuildDone, Text: "moat/run:abc"},
	}
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		{name: "pipe: two plain lines", want: "Building image moat/run:abc (first run with these dependencies; later runs reuse it)\n" +
			"Built image moat/run:abc\n"},
		{name: "terminal: one redrawn line", tty: true, want: "Building image moat/run:abc (first run with these dependencies; later runs reuse it)\n" +
			"\r\x1b[K  step 3/7: RUN apt-get update" +
			"\r\x1b[K  step 3/7: Unpacking git (1:2.39.5) ..." +
			"\r\x1b[KBuilt image moat/run:abc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, errOut := iostreams.Test()
			ios.SetTTY(false, false, tt.tty)
			p := newBuildProgress(ios)
			for _, e := range events {
				p.onEvent(e)
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
