package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/moatsh/moat/internal/runtime"
)

// stream opens a pod's exec or attach subresource: WebSocket first, SPDY
// where the cluster does not speak it (as kubectl does).
func (e *Engine) stream(ctx context.Context, id ID, sub string, opts apiruntime.Object, so remotecommand.StreamOptions) error {
	req := e.api.streamRequest(id.Namespace, id.Pod, sub, opts)
	ws, err := remotecommand.NewWebSocketExecutor(e.rest, "GET", req.URL().String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.rest, "POST", req.URL())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, so)
}

// exec runs args in a container of pod id, stdin (if any) its input, its
// output and errors to out.
func (e *Engine) exec(ctx context.Context, id ID, container string, args []string, stdin io.Reader, out io.Writer) error {
	opts := &corev1.PodExecOptions{Container: container, Command: args, Stdin: stdin != nil, Stdout: true, Stderr: true}
	var errOut bytes.Buffer
	err := e.stream(ctx, id, "exec", opts, remotecommand.StreamOptions{Stdin: stdin, Stdout: out, Stderr: &errOut})
	if err != nil {
		if msg := bytes.TrimSpace(errOut.Bytes()); len(msg) > 0 {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

// ContainerLogs writes the main container's log. A pod's log is one
// stream: stdout and stderr both go to stdout.
func (e *Engine) ContainerLogs(ctx context.Context, s string, opts runtime.LogOptions, stdout, _ io.Writer) error {
	id, err := e.own(s)
	if err != nil {
		return err
	}
	if p := e.pendingFor(s); p != nil {
		select { // a follower of a container not yet started waits for it
		case <-p.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if !opts.Follow {
			return nil
		}
	}
	lo := &corev1.PodLogOptions{Container: mainContainer, Follow: opts.Follow, Timestamps: opts.Timestamps}
	if n, err := strconv.ParseInt(opts.Tail, 10, 64); err == nil {
		lo.TailLines = &n
	}
	if opts.Follow {
		// Following a container that has not started yet: wait until it has.
		if _, err := e.waitContainer(ctx, id, func(p *corev1.Pod) (bool, error) {
			st := containerStatus(p, mainContainer)
			return st != nil && (st.State.Running != nil || st.State.Terminated != nil), stuck(p, mainContainer)
		}); err != nil {
			return err
		}
	}
	rc, err := e.api.podLogs(ctx, id.Namespace, id.Pod, lo)
	if err != nil {
		return e.apiError(err)
	}
	defer rc.Close()
	_, err = io.Copy(stdout, rc)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// AttachContainer connects to the main container. Its output comes from
// the pod's log, followed from the container's start, so nothing written
// before the attachment is lost (a pod's log is one stream: stderr comes
// with stdout); its input and terminal size go over an attachment, made
// once it runs. A sidecar's stdin written before it starts becomes its
// Secret.
func (e *Engine) AttachContainer(ctx context.Context, s string, opts runtime.AttachOptions) (runtime.Stream, error) {
	if _, err := e.own(s); err != nil {
		return nil, err
	}
	p := e.pendingFor(s)
	if p != nil && p.stdin != nil {
		p.stdin.logs = func(ctx context.Context, stdout, stderr io.Writer) error {
			return e.ContainerLogs(ctx, s, runtime.LogOptions{Follow: true}, stdout, stderr)
		}
		p.stdin.ctx = ctx
		return p.stdin, nil
	}
	ls := newLazyStream(ctx, e, s, opts)
	if p == nil {
		go ls.connect()
		return ls, nil
	}
	p.attach = ls
	return ls, nil
}

// ResizeTTY sets the attached terminal's size.
func (e *Engine) ResizeTTY(_ context.Context, s string, height, width uint) error {
	e.mu.Lock()
	ls := e.sizes[s]
	e.mu.Unlock()
	if ls != nil {
		ls.resize(height, width)
	}
	return nil
}

// lazyStream is an attachment to a main container, connected once it
// runs. Without a terminal its output is the followed log (so nothing
// written before the attachment is lost, and stderr comes with stdout);
// with one, the attachment carries the raw output (a log holds a
// prompt back until its line ends), and the command waits for moat's
// go-ahead, given once the attachment is up.
type lazyStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	e      *Engine
	id     string
	opts   runtime.AttachOptions
	inR    *io.PipeReader
	inW    *io.PipeWriter
	outR   *io.PipeReader
	outW   *io.PipeWriter
	sizes  chan *remotecommand.TerminalSize
	goOnce sync.Once
}

func newLazyStream(ctx context.Context, e *Engine, id string, opts runtime.AttachOptions) *lazyStream {
	ls := &lazyStream{e: e, id: id, opts: opts, sizes: make(chan *remotecommand.TerminalSize, 1)}
	ls.ctx, ls.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ls.inR, ls.inW = io.Pipe()
	ls.outR, ls.outW = io.Pipe()
	if opts.TTY {
		// Sizes set before the attachment exists are kept for it.
		e.mu.Lock()
		if e.sizes == nil {
			e.sizes = map[string]*lazyStream{}
		}
		e.sizes[id] = ls
		e.mu.Unlock()
	}
	return ls
}

// connect attaches the stdin and terminal once the main container runs
// (nothing to do without either).
func (ls *lazyStream) connect() {
	if !ls.opts.Stdin && !ls.opts.TTY {
		return
	}
	id, _ := ParseID(ls.id)
	if ls.opts.TTY {
		defer ls.outW.Close()
		defer func() {
			ls.e.mu.Lock()
			delete(ls.e.sizes, ls.id)
			ls.e.mu.Unlock()
		}()
	}
	if _, err := ls.e.waitContainer(ls.ctx, id, func(p *corev1.Pod) (bool, error) {
		st := containerStatus(p, mainContainer)
		return st != nil && (st.State.Running != nil || st.State.Terminated != nil), stuck(p, mainContainer)
	}); err != nil {
		return
	}
	opts := &corev1.PodAttachOptions{Container: mainContainer, Stdin: ls.opts.Stdin, Stdout: ls.opts.TTY, TTY: ls.opts.TTY}
	so := remotecommand.StreamOptions{Tty: ls.opts.TTY}
	if ls.opts.Stdin {
		so.Stdin = ls.inR
	}
	if ls.opts.TTY {
		so.Stdout, so.TerminalSizeQueue = ls.outW, ls
	}
	err := ls.e.stream(ls.ctx, id, "attach", opts, so)
	if ls.opts.TTY && err != nil && ls.ctx.Err() == nil {
		// No attachment: the command still runs (it must not wait out
		// its go-ahead), its output from the log.
		ls.goAhead()
		ls.e.ContainerLogs(ls.ctx, ls.id, runtime.LogOptions{Follow: true}, &crlfWriter{w: ls.outW}, nil)
	}
}

// goAhead lets a command that waits for the attachment run.
func (ls *lazyStream) goAhead() {
	ls.goOnce.Do(func() {
		id, _ := ParseID(ls.id)
		go ls.e.exec(ls.ctx, id, keeperContainer, []string{sidecarInImage, "kube", "done", goAhead}, nil, io.Discard)
	})
}

// Next gives the attachment the terminal's size. Its first call means the
// attachment is up: the command may start.
func (ls *lazyStream) Next() *remotecommand.TerminalSize {
	ls.goAhead()
	select {
	case s := <-ls.sizes:
		return s
	case <-ls.ctx.Done():
		return nil
	}
}

// resize keeps the latest size for the attachment: an older one not yet
// sent is replaced.
func (ls *lazyStream) resize(h, w uint) {
	size := &remotecommand.TerminalSize{Height: uint16(h), Width: uint16(w)}
	for {
		select {
		case ls.sizes <- size:
			return
		default:
		}
		select {
		case <-ls.sizes:
		default:
		}
	}
}

func (ls *lazyStream) Write(b []byte) (int, error) { return ls.inW.Write(b) }
func (ls *lazyStream) CloseWrite() error           { return ls.inW.Close() }
func (ls *lazyStream) Close() error {
	ls.inW.Close()
	ls.outR.Close()
	ls.cancel()
	return nil
}

// CopyOutput copies the container's output until it ends: the
// attachment's with a terminal, else the followed log.
func (ls *lazyStream) CopyOutput(stdout, stderr io.Writer) error {
	if ls.opts.TTY {
		_, err := io.Copy(stdout, ls.outR)
		return err
	}
	return ls.e.ContainerLogs(ls.ctx, ls.id, runtime.LogOptions{Follow: true}, stdout, stderr)
}

// crlfWriter writes "\r\n" for each "\n" not already after a "\r": a
// terminal's log comes in lines without their carriage returns, which a
// terminal in raw mode needs back.
type crlfWriter struct {
	w      io.Writer
	lastCR bool
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+len(p)/16)
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			out = append(out, '\r')
		}
		out = append(out, b)
		c.lastCR = b == '\r'
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stdinSecret is a sidecar's stdin, written before it starts: kept, and
// made its Secret when closed.
type stdinSecret struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	closed  bool
	start   func([]byte) error
	ctx     context.Context
	logs    func(ctx context.Context, stdout, stderr io.Writer) error
	launchd chan error
}

// started is called when the container is started: it launches once the
// stdin is closed too.
func (s *stdinSecret) started(launch func([]byte) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = launch
	s.maybeLaunch()
}

func (s *stdinSecret) maybeLaunch() {
	if s.start == nil || !s.closed || s.launchd != nil {
		return
	}
	s.launchd = make(chan error, 1)
	data := bytes.Clone(s.buf.Bytes())
	clear(s.buf.Bytes())
	go func() { s.launchd <- s.start(data) }()
}

func (s *stdinSecret) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	return s.buf.Write(b)
}

func (s *stdinSecret) CloseWrite() error {
	s.mu.Lock()
	s.closed = true
	s.maybeLaunch()
	ch := s.launchd
	s.mu.Unlock()
	if ch == nil {
		return nil
	}
	if err := <-ch; err != nil {
		ch <- err
		return err
	}
	ch <- nil
	return nil
}

func (s *stdinSecret) Close() error { return nil }

// CopyOutput follows the sidecar's log once it runs.
func (s *stdinSecret) CopyOutput(stdout, stderr io.Writer) error {
	return s.logs(s.ctx, stdout, stderr)
}
