package image

import (
	"fmt"
	"strings"

	"github.com/moatsh/moat/internal/runtime"
)

// outputTail is how many lines of a failing step's output an error keeps.
const outputTail = 25

// stepTracker turns the engine's build messages into Events and remembers
// the current step and its recent output for error reports.
type stepTracker struct {
	emit    func(Event)
	step    string
	tail    []string
	partial string
}

func (t *stepTracker) onMessage(m runtime.BuildMessage) {
	if m.Stream == "" {
		return
	}
	text := t.partial + m.Stream
	lines := strings.Split(text, "\n")
	t.partial = lines[len(lines)-1]
	for _, line := range lines[:len(lines)-1] {
		t.line(strings.TrimRight(line, "\r"))
	}
}

func (t *stepTracker) line(line string) {
	var n, total int
	var instr string
	if _, err := fmt.Sscanf(line, "Step %d/%d :", &n, &total); err == nil {
		if i := strings.Index(line, " : "); i >= 0 {
			instr = line[i+3:]
		}
		t.step, t.tail = fmt.Sprintf("%d/%d %q", n, total, instr), nil
		t.emit(Event{Kind: StepStarted, Step: n, Steps: total, Text: instr})
		return
	}
	if strings.HasPrefix(line, " ---> ") || line == "" {
		return
	}
	t.tail = append(t.tail, line)
	if len(t.tail) > outputTail {
		t.tail = t.tail[len(t.tail)-outputTail:]
	}
	t.emit(Event{Kind: StepOutput, Text: line})
}

func (t *stepTracker) failure(tag string, err error) error {
	if t.partial != "" {
		t.line(t.partial)
		t.partial = ""
	}
	return &BuildError{Tag: tag, Step: t.step, Output: t.tail, Err: err.Error()}
}
