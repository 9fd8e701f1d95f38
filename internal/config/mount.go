package config

import (
	"fmt"
	"path"
	"strings"
)

// WorkspaceTarget is where the workspace itself is mounted in the container.
// A mount may go inside it (to shadow a directory) but not replace it.
// WorkspaceTarget is where the workspace appears in the container.
const WorkspaceTarget = "/workspace"

// Mount is an extra bind mount from the host into the container.
type Mount struct {
	Source   string // host path as written: relative to the workspace, absolute, or starting with ~/
	Target   string // absolute, cleaned path in the container
	ReadOnly bool
}

// String renders the mount in the SOURCE:TARGET[:ro] form ParseMount reads.
func (m Mount) String() string {
	if m.ReadOnly {
		return m.Source + ":" + m.Target + ":ro"
	}
	return m.Source + ":" + m.Target
}

// ParseMount parses SOURCE:TARGET[:ro|rw], for example from a command-line
// flag. The mode defaults to rw. The target is cleaned (trailing slashes and
// "." or ".." elements removed); the source is kept as written, for the
// caller to resolve against the workspace. Errors are *Error without a file.
func ParseMount(spec string) (Mount, error) {
	m, p := parseMount(spec)
	if p != nil {
		return Mount{}, &Error{Msg: p.msg, Remedy: p.hint}
	}
	return m, nil
}

func parseMount(spec string) (Mount, *problem) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Mount{}, mountProblem(spec, `Write SOURCE:TARGET[:ro|rw], e.g. "./cache:/cache:ro"; paths containing ":" cannot be mounted.`,
			`expected SOURCE:TARGET[:ro|rw]`)
	}
	m := Mount{Source: parts[0], Target: parts[1]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			m.ReadOnly = true
		case "rw":
		default:
			return Mount{}, mountProblem(spec, `Use "ro" for read-only or "rw" (the default) for read-write.`,
				`mode %q must be "ro" or "rw"`, parts[2])
		}
	}
	if p := checkMount(m, spec); p != nil {
		return Mount{}, p
	}
	m.Target = path.Clean(m.Target)
	return m, nil
}

// checkMount checks the source and target of m. spec is how the mount was
// written, for the message.
func checkMount(m Mount, spec string) *problem {
	if p := checkMountSource(m.Source, spec); p != nil {
		return p
	}
	return checkMountTarget(m.Target, spec)
}

func checkMountSource(src, spec string) *problem {
	switch {
	case src == "":
		return mountProblem(spec, `Write the host path before the ":", e.g. "./cache:/cache".`, "the source is empty")
	case strings.ContainsRune(src, 0):
		return mountProblem(spec, nulHint, "the source contains a NUL byte")
	case strings.HasPrefix(src, "~") && !strings.HasPrefix(src, "~/"):
		return mountProblem(spec, `Write "~/" for your home directory, "~/dir" for a directory in it, or an absolute path.`,
			`source %q: only a leading "~/" is expanded`, src)
	}
	return nil
}

func checkMountTarget(target, spec string) *problem {
	clean := path.Clean(target)
	switch {
	case target == "":
		return mountProblem(spec, `Write the container path after the ":", e.g. "./cache:/cache".`, "the target is empty")
	case strings.ContainsRune(target, 0):
		return mountProblem(spec, nulHint, "the target contains a NUL byte")
	case !path.IsAbs(target):
		return mountProblem(spec, fmt.Sprintf("Did you mean %q?", path.Clean("/"+target)),
			"target %q must be an absolute path", target)
	case clean == "/":
		return mountProblem(spec, "Mount at a directory such as /data.", `the target cannot be "/"`)
	case clean == WorkspaceTarget:
		return mountProblem(spec, "Pick another target; a directory inside /workspace is fine.",
			"the target cannot be %s: the workspace is mounted there", WorkspaceTarget)
	}
	return nil
}

func mountProblem(spec, hint, format string, args ...any) *problem {
	return newProblem(hint, "invalid mount %q: %s", spec, fmt.Sprintf(format, args...))
}

// duplicateTarget reports a second mount at target; first is the position
// of the first one ("3:5"), or "" when unknown.
func duplicateTarget(spec, target, first string) *problem {
	return newProblem("Mount each target once.", "invalid mount %q: target %s is already used%s",
		spec, target, firstAt(first))
}

// firstAt renders " (first at 3:5)", or "" when the position is unknown.
func firstAt(pos string) string {
	if pos == "" {
		return ""
	}
	return " (first at " + pos + ")"
}
