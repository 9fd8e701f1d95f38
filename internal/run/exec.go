package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// execEngine is what 'moat exec' needs from an engine: a command started
// beside a running container's own. An engine without it cannot exec.
type execEngine interface {
	Exec(ctx context.Context, id string, opts runtime.ExecOptions) (runtime.ExecSession, error)
}

// ExecOptions is a command to run in a running run's container, as its
// agent.
type ExecOptions struct {
	Command     []string
	Env         []string // KEY=VALUE, over the agent's own
	WorkingDir  string   // "" is the workspace
	Interactive bool
	TTY         bool
	DetachKeys  string // the engine's form ("ctrl-p,ctrl-q"); "" is its default

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TerminalSize reports the user's terminal (TTY); Resized signals
	// that it changed.
	TerminalSize func() (width, height int)
	Resized      <-chan struct{}
}

// NotRunningError reports that a command cannot start in a run that does
// not run.
type NotRunningError struct {
	Run    string
	Status state.Status
}

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("run %s is not running (%s)", e.Run, e.Status)
}

// Hint says what to do instead.
func (e *NotRunningError) Hint() string {
	return fmt.Sprintf("Run 'moat list' to see the runs that are running, or 'moat logs %s' for this one's output.", e.Run)
}

// execScript runs as the container's own user (root, where moat-init
// starts as root) with the container's environment, and starts the
// command exactly as moat-init starts the agent's: as the agent's uid and
// gid with its groups, no capabilities, no new privileges, HOME, USER and
// LOGNAME its own, then the agent's variables (agent.yaml env, -e) and the
// exec's own applied by env(1) after the drop, so that none of them reaches
// what runs as root. MOAT_ATTEST is the relay's alone, as in moat-init.
var execScript = image.InitFunction("check_command") + `set -e
unset ENV BASH_ENV CDPATH MOAT_ATTEST
# -w: the directory, or "" for the container's own (the workspace).
dir=$1
shift
if [ -n "$dir" ] && ! cd -- "$dir" 2>/dev/null; then
	echo "moat exec: -w $dir: there is no such directory in the run's container" >&2
	exit 126
fi
# Root, or the image's own user (moat-init then runs the agent as that),
# told apart without a process: only root reads PID 1's environment here.
if [ ! -r /proc/1/environ ]; then exec env PATH="$PATH" "$@"; fi
uid=${MOAT_UID:?MOAT_UID is not set}
gid=${MOAT_GID:?MOAT_GID is not set}
[ "$uid" != 0 ] || { echo "moat exec: refusing to run as root (MOAT_UID=0)" >&2; exit 126; }
# Right after 'moat run -d', moat-init may still be setting the run up
# (the agent's user, the proxy's relay): wait until it has (up to 30 s),
# as the agent's command does.
tries=0
until [ -e /run/moat/started ]; do
	tries=$((tries + 1))
	[ "$tries" -lt 300 ] || { echo "moat exec: the run did not finish starting within 30s: it is still starting, or its setup failed (see 'moat logs')" >&2; exit 126; }
	sleep 0.1
done
user= home=
while IFS=: read -r n _ u _ _ h _; do
	if [ "$u" = "$uid" ]; then user=$n home=$h; break; fi
done </etc/passwd
[ -n "$user" ] || { echo "moat exec: the agent's user is missing from the run's /etc/passwd" >&2; exit 126; }
groups=$gid
sock=${MOAT_DOCKER_SOCKET:-}
if [ -S "$sock" ] && [ "$(stat -c %u "$sock")" != "$uid" ]; then groups="$groups,$(stat -c %g "$sock")"; fi
if [ "${MOAT_DIND:-}" = 1 ]; then export DOCKER_HOST="unix:///run/user/$uid/docker.sock"; fi
# A missing command is reported as moat-init reports the agent's: the
# command is the first word that is not a variable, unless one sets PATH.
path_given= command=
for a do
	case $a in PATH=*) path_given=1 ;; *=*) ;; *) command=$a; break ;; esac
done
if [ -z "$path_given" ] && [ -n "$command" ]; then
	agent_path=$PATH who="moat exec"
	check_command "$command"
fi
export HOME="$home" USER="$user" LOGNAME="$user"
if [ -n "$dir" ]; then
	# Entered again as the agent: root may enter what the agent may not.
	set -- /bin/sh -c 'cd -- "$1" 2>/dev/null || { echo "moat exec: -w $1: the agent may not enter that directory" >&2; exit 126; }
shift
exec env PATH="$PATH" "$@"' moat-exec "$dir" "$@"
else
	set -- env PATH="$PATH" "$@"
fi
exec setpriv --reuid="$uid" --regid="$gid" --groups="$groups" --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"`

// Exec runs a command in run r's container as its agent and returns the
// command's exit code. The command gets the agent's environment (its
// proxy, CA and placeholders, so the run's egress policy applies to it)
// and the workspace as its directory.
func (m *Manager) Exec(ctx context.Context, r *state.Run, opts ExecOptions) (int, error) {
	if r.Status != state.Running || r.ContainerID == "" {
		return 0, &NotRunningError{Run: r.Name, Status: r.Status}
	}
	engine, ok := m.Engine.(execEngine)
	if !ok {
		return 0, &runtime.UnsupportedError{Feature: "moat exec", Engine: "this engine", Reason: "it cannot start a command in a running container",
			Remedy: "Run the command in a new run with 'moat run'."}
	}
	info, err := m.Engine.InspectContainer(ctx, r.ContainerID)
	if errors.Is(err, runtime.ErrNotFound) || err == nil && !info.Running {
		return 0, &NotRunningError{Run: r.Name, Status: state.Exited}
	}
	if err != nil {
		return 0, fmt.Errorf("inspecting the run's container: %w", err)
	}
	eo := runtime.ExecOptions{
		Cmd:   execCommand(opts.WorkingDir, agentVars(info.Cmd), opts.Env, opts.Command),
		Stdin: opts.Interactive, TTY: opts.TTY, DetachKeys: opts.DetachKeys,
	}
	if opts.TTY && opts.TerminalSize != nil {
		if w, h := opts.TerminalSize(); w > 0 && h > 0 {
			eo.Width, eo.Height = uint(w), uint(h)
		}
	}
	recorded := make(chan struct{})
	go func() { // beside the engine's work: the log is not on the command's path
		defer close(recorded)
		m.record(r, audit.KindExec, map[string]string{"command": strings.Join(opts.Command, " "),
			"tty": strconv.FormatBool(opts.TTY), "interactive": strconv.FormatBool(opts.Interactive)}, false)
	}()
	defer func() { <-recorded }()
	sess, err := engine.Exec(ctx, r.ContainerID, eo)
	if errors.Is(err, runtime.ErrConflict) {
		return 0, &NotRunningError{Run: r.Name, Status: state.Exited}
	}
	if err != nil {
		return 0, fmt.Errorf("starting the command in the run's container: %w", err)
	}
	defer sess.Close()
	return m.attachExec(ctx, sess, opts)
}

func (m *Manager) attachExec(ctx context.Context, sess runtime.ExecSession, opts ExecOptions) (int, error) {
	outDone := make(chan error, 1)
	go func() { outDone <- sess.CopyOutput(orDiscard(opts.Stdout), orDiscard(opts.Stderr)) }()
	if opts.Interactive && opts.Stdin != nil {
		go forwardStdin(sess, opts.Stdin, nil)
	}
	if opts.TTY {
		go followSizes(ctx, sess.Resize, opts.TerminalSize, opts.Resized)
	}
	select {
	case err := <-outDone:
		if err != nil {
			return 0, fmt.Errorf("copying the command's output: %w", err)
		}
	case <-ctx.Done():
		return 0, &InterruptedError{Cause: context.Cause(ctx)}
	}
	return sess.ExitCode(ctx)
}

// followSizes passes the user's terminal size on to resize, at once and at
// each change, until ctx ends or resized closes.
func followSizes(ctx context.Context, resize func(context.Context, uint, uint) error, size func() (int, int), resized <-chan struct{}) {
	if size == nil {
		return
	}
	apply := func() {
		if w, h := size(); w > 0 && h > 0 {
			resize(ctx, uint(h), uint(w))
		}
	}
	apply()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-resized:
			if !ok {
				return
			}
			apply()
		}
	}
}

// agentVars returns the agent's own variables from its container's
// command: moat-init's arguments up to the separator (initArgs).
func agentVars(cmd []string) []string {
	for i, a := range cmd {
		if a == initSeparator {
			return cmd[:i]
		}
		if !strings.Contains(a, "=") {
			break
		}
	}
	return nil
}

// execCommand is the engine's command for exec: execScript, then the
// directory (-w, entered by the script so a missing one is reported in
// moat's words, not the runtime's), the variables env(1) applies, then the
// command. A command word with "=" in
// it would be taken by env for one more variable: it runs through sh's
// exec instead, as in moat-init.
func execCommand(workDir string, agentEnv, env, command []string) []string {
	args := []string{"/bin/sh", "-c", execScript, "moat-exec", workDir}
	args = append(args, agentEnv...)
	args = append(args, env...)
	if strings.Contains(command[0], "=") {
		args = append(args, "/bin/sh", "-c", `exec "$@"`, "sh")
	}
	return append(args, command...)
}

// ErrDetached reports that the user detached from a command that goes on.
var ErrDetached = runtime.ErrDetached
