package factory

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/termtext"
)

// heartbeatEvery is how often a build on a pipe that prints nothing says
// it is still working, so that a log or CI job does not look hung.
const heartbeatEvery = 10 * time.Second

// buildProgress renders image build events on stderr: on a terminal one
// line, redrawn with the current step and its latest output; otherwise a
// line per step, and a line every heartbeatEvery while a step goes on.
// The progress ends (the line cleared) before a failed build's error is
// printed.
type buildProgress struct {
	io  *iostreams.IOStreams
	now func() time.Time

	mu          sync.Mutex
	step        string // "step 3/7"
	stepStarted time.Time
	drawn       bool          // a redrawn line is on the terminal
	stopBeat    chan struct{} // closed when the build ends
}

func newBuildProgress(ios *iostreams.IOStreams) *buildProgress {
	return &buildProgress{io: ios, now: time.Now}
}

func (p *buildProgress) onEvent(e image.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.io.ErrOut
	tty := p.io.IsStderrTTY()
	switch e.Kind {
	case image.BuildWaiting:
		fmt.Fprintf(w, "Waiting for another moat process building image %s\n", e.Text)
	case image.BuildStarted:
		fmt.Fprintf(w, "Building image %s (first run with these dependencies; later runs reuse it)\n", e.Text)
		p.step, p.stepStarted = "", p.now()
		if !tty {
			p.startHeartbeat()
		}
	case image.StepStarted:
		p.step, p.stepStarted = fmt.Sprintf("step %d/%d", e.Step, e.Steps), p.now()
		if tty {
			p.redraw(w, e.Text)
		} else {
			fmt.Fprintf(w, "  Step %d/%d: %s\n", e.Step, e.Steps, oneLine(e.Text))
		}
	case image.StepOutput:
		if tty {
			p.redraw(w, e.Text)
		}
	case image.BuildDone:
		p.end(w)
		fmt.Fprintf(w, "Built image %s\n", e.Text)
	case image.BuildFailed:
		p.end(w)
	}
}

// end stops the heartbeat and clears the redrawn line.
func (p *buildProgress) end(w io.Writer) {
	if p.stopBeat != nil {
		close(p.stopBeat)
		p.stopBeat = nil
	}
	if p.drawn {
		fmt.Fprint(w, "\r\033[K")
		p.drawn = false
	}
}

func (p *buildProgress) startHeartbeat() {
	stop := make(chan struct{})
	p.stopBeat = stop
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.heartbeat(stop)
			}
		}
	}()
}

// heartbeat says the build goes on, unless the build that started the
// ticker (stop) has ended meanwhile.
func (p *buildProgress) heartbeat(stop chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopBeat != stop {
		return
	}
	at := ""
	if p.step != "" {
		at = " on " + p.step
	}
	elapsed := p.now().Sub(p.stepStarted).Round(time.Second)
	fmt.Fprintf(p.io.ErrOut, "  ... still working%s (%s)\n", at, elapsed)
}

// redraw replaces the progress line with the step and text, cut to the
// terminal's width.
func (p *buildProgress) redraw(w io.Writer, text string) {
	width, _ := p.io.TerminalSize()
	if width <= 0 {
		width = 80
	}
	line := "  " + p.step + ": " + oneLine(text)
	fmt.Fprint(w, "\r\033[K"+truncate(line, width-1))
	p.drawn = true
}

// oneLine is text as one line with its control sequences dropped.
func oneLine(text string) string {
	return strings.Join(strings.Fields(termtext.Field(text)), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
