package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/termtext"
)

// outputTail is how many lines of a failing step's output an error keeps.
const outputTail = 25

// stepTracker turns the engine's build messages into Events and remembers
// the current step and its recent output for error reports. What it passes
// on is the steps' own output: escape sequences and the builder's own
// lines ("---> Running in ...", "Removing intermediate container ...")
// are dropped.
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
		t.line(line)
	}
}

func (t *stepTracker) line(raw string) {
	line := cleanLine(raw)
	var n, total int
	if _, err := fmt.Sscanf(line, "Step %d/%d :", &n, &total); err == nil {
		var instr string
		if i := strings.Index(line, " : "); i >= 0 {
			// The classic builder joins continued lines with their indent.
			instr = strings.Join(strings.Fields(line[i+3:]), " ")
		}
		t.step, t.tail = fmt.Sprintf("%d/%d %q", n, total, instr), nil
		t.emit(Event{Kind: StepStarted, Step: n, Steps: total, Text: instr})
		return
	}
	if line == "" || builderNoise(line) {
		return
	}
	t.tail = append(t.tail, line)
	if len(t.tail) > outputTail {
		t.tail = t.tail[len(t.tail)-outputTail:]
	}
	t.emit(Event{Kind: StepOutput, Text: line})
}

// cleanLine is what a terminal would end up showing of one line of build
// output: the text after its last carriage return (progress counters
// redraw themselves that way), with escape sequences dropped.
func cleanLine(raw string) string {
	raw = strings.TrimRight(raw, "\r")
	if i := strings.LastIndexByte(raw, '\r'); i >= 0 {
		raw = raw[i+1:]
	}
	return strings.TrimRight(termtext.String(raw), " \t")
}

// builderNoise reports whether line is the classic builder's own report
// (intermediate containers and layer IDs), not a step's output.
func builderNoise(line string) bool {
	s := strings.TrimSpace(line)
	for _, prefix := range []string{"--->", "Removing intermediate container ", "Successfully built ", "Successfully tagged ", "Sending build context to "} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// failedCommand matches the engines' report of a RUN step whose command
// failed, which repeats the whole command line: the classic builder's and
// BuildKit's.
var failedCommand = regexp.MustCompile(`(?s)^(?:The command '.*' returned a non-zero code: (\d+)|process ".*" did not complete successfully: exit code: (\d+))$`)

// failureReason words the engine's error for a user: a failed RUN step is
// "the command exited with code N", its command line being in the step
// already.
func failureReason(engineErr string) string {
	s := strings.TrimSpace(termtext.String(engineErr))
	if m := failedCommand.FindStringSubmatch(s); m != nil {
		return "the command exited with code " + m[1] + m[2]
	}
	return s
}

func (t *stepTracker) failure(tag string, err error) *BuildError {
	if t.partial != "" {
		t.line(t.partial)
		t.partial = ""
	}
	return &BuildError{Tag: tag, Step: t.step, Output: t.tail, Err: failureReason(err.Error())}
}
