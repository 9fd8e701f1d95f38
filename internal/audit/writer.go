package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/moatsh/moat/internal/fsutil"
)

// DefaultCheckpointEvery is how many entries may follow a signed
// checkpoint before the next one, so truncating a long log's tail is
// detected even before the run ends.
const DefaultCheckpointEvery = 100

// DefaultMaxBytes caps a run's audit log. An agent can make requests
// without end, and each is recorded; past the cap request events are
// dropped and counted (see Options.MaxBytes), so a run cannot fill the
// disk through its log. 64 MiB holds about 200,000 requests.
const DefaultMaxBytes = 64 << 20

// Log appends to one run's audit log file. Any number of Logs, in any
// number of processes, may append to the same file: each append holds an
// exclusive lock on it, reads the chain head, and writes one whole line.
type Log struct {
	path  string
	runID string
	key   ed25519.PrivateKey
	every uint64
	now   func() time.Time

	mu      sync.Mutex
	f       *os.File
	head    head   // cached; valid while the file's size is head.size
	pending []byte // entries written but not yet flushed
	cap     dropped
}

// head is the end of the chain as last seen.
type head struct {
	seq  uint64
	hash string
	size int64
}

// Options tune a Log; the zero value is the default.
type Options struct {
	CheckpointEvery uint64 // 0 means DefaultCheckpointEvery
	// MaxBytes caps the file: request events (net.request, net.denied,
	// credential.injected) that would start past it are dropped, and the
	// Log that dropped them records one log.truncated entry with their
	// count when it is released or closed. Every other event is written.
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	Now      func() time.Time // nil means time.Now
}

// Open opens (creating if needed) the audit log at path for run runID,
// signing checkpoints with key.
func Open(path, runID string, key ed25519.PrivateKey, opts Options) (*Log, error) {
	// The log may sit in a directory a less trusted process writes to (the
	// run's proxy): a link or FIFO in its place is refused, not followed.
	f, err := fsutil.OpenBeneath(filepath.Dir(path), filepath.Base(path), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	l := &Log{path: path, runID: runID, key: key, every: opts.CheckpointEvery, now: opts.Now, f: f, head: head{size: -1}}
	l.cap.limit = opts.MaxBytes
	if l.cap.limit == 0 {
		l.cap.limit = DefaultMaxBytes
	}
	if l.every == 0 {
		l.every = DefaultCheckpointEvery
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Key is the key that signs this Log's checkpoints.
func (l *Log) Key() ed25519.PrivateKey { return l.key }

// Append records an event. With durable set, the entry is on disk before
// Append returns; use it for events that matter (run start, exit).
func (l *Log) Append(kind string, data map[string]string, durable bool) (Entry, error) {
	entries, err := l.AppendBatch([]Event{{Kind: kind, Data: data}}, durable)
	if len(entries) == 0 {
		return Entry{}, err
	}
	return entries[0], err
}

// Event is one thing to record.
type Event struct {
	Kind string
	Data map[string]string
}

// AppendBatch records events in order under one lock and one write, with
// the checkpoints that fall among them. It returns the entries written.
func (l *Log) AppendBatch(events []Event, durable bool) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking the audit log: %w", err)
	}
	defer syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if err := l.refreshHead(); err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(events))
	for _, ev := range events {
		if l.cap.drops(ev.Kind, l.head.size+int64(len(l.pending))) {
			continue
		}
		e := l.write(ev.Kind, ev.Data)
		entries = append(entries, e)
		if e.Seq%l.every == 0 {
			l.writeCheckpoint(false)
			durable = true
		}
	}
	if err := l.flush(); err != nil {
		return nil, err
	}
	if durable {
		return entries, l.f.Sync()
	}
	return entries, nil
}

// Close appends the final signed checkpoint, syncs and closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.f.Close()
	return l.finish(true)
}

// finish writes what a writer owes the log as it lets go, under the file
// lock: the count of the events it dropped, and with final the final
// checkpoint. The caller holds mu.
func (l *Log) finish(final bool) error {
	if err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking the audit log: %w", err)
	}
	defer syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if err := l.refreshHead(); err != nil {
		return err
	}
	l.writeTruncated()
	if final {
		l.writeCheckpoint(true)
	}
	if err := l.flush(); err != nil {
		return err
	}
	return l.f.Sync()
}

func (l *Log) writeCheckpoint(final bool) Entry {
	covers, head := l.head.seq, l.head.hash
	if covers == 0 {
		head = Genesis(l.runID)
	}
	sig := ed25519.Sign(l.key, checkpointMessage(l.runID, covers, head, final))
	return l.write(KindCheckpoint, map[string]string{
		"covers": strconv.FormatUint(covers, 10),
		"head":   head,
		"final":  strconv.FormatBool(final),
		"key":    Fingerprint(l.key.Public().(ed25519.PublicKey)),
		"sig":    base64.StdEncoding.EncodeToString(sig),
	})
}

// write adds one entry after the cached head to the pending buffer; flush
// puts the buffer in the file. The caller holds the lock.
func (l *Log) write(kind string, data map[string]string) Entry {
	e := Entry{Seq: l.head.seq + 1, Time: l.now().UTC(), Kind: kind, Data: data, Prev: l.head.hash}
	if e.Seq == 1 {
		e.Prev = Genesis(l.runID)
	}
	start := len(l.pending)
	l.pending = appendBody(l.pending, e)
	e.Hash = hashBody(l.pending[start:]) // the body, encoded once, is what the hash covers
	l.pending = append(l.pending, `,"hash":`...)
	l.pending = append(appendString(l.pending, e.Hash), '}', '\n')
	l.head.seq, l.head.hash = e.Seq, e.Hash
	return e
}

// flush writes the pending entries with one write. On failure the cached
// head is dropped, so the next append reads the file again.
func (l *Log) flush() error {
	if len(l.pending) == 0 {
		return nil
	}
	n, err := l.f.Write(l.pending)
	l.pending = l.pending[:0]
	if err != nil {
		l.head.size = -1
		return fmt.Errorf("writing the audit log: %w", err)
	}
	l.head.size += int64(n)
	return nil
}

// refreshHead makes the cached head match the file: another process may
// have appended, and a crash may have left a partial last line, which is
// cut off and recorded.
func (l *Log) refreshHead() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == l.head.size {
		return nil
	}
	last, end, torn, err := readTail(l.f, fi.Size())
	if err != nil {
		return err
	}
	l.head = head{size: end}
	if last != nil {
		l.head.seq, l.head.hash = last.Seq, last.Hash
	}
	if torn == nil {
		return nil
	}
	if err := l.f.Truncate(end); err != nil {
		return fmt.Errorf("cutting the torn end of the audit log: %w", err)
	}
	sum := sha256.Sum256(torn)
	l.write(KindTornTail, map[string]string{
		"bytes": strconv.Itoa(len(torn)), "sha256": hex.EncodeToString(sum[:]),
		"note": "a writer stopped in the middle of an entry; the partial entry was dropped",
	})
	return l.flush()
}

// readTail finds the last complete entry of the file, the offset just
// after it, and the bytes of a partial line after it, if any.
func readTail(f *os.File, size int64) (*Entry, int64, []byte, error) {
	const chunk = 8192
	var buf []byte
	for off := size; ; {
		start := max(off-chunk, 0)
		part := make([]byte, off-start)
		if _, err := f.ReadAt(part, start); err != nil && err != io.EOF {
			return nil, 0, nil, fmt.Errorf("reading the audit log: %w", err)
		}
		buf = append(part, buf...)
		off = start
		if e, end, torn, ok, err := parseLastEntry(buf, off); ok || off == 0 || err != nil {
			return e, end, torn, err
		}
	}
}

// lastEntry looks for the last complete line in buf, which starts at file
// offset base. ok is false when buf may not yet hold that whole line.
func parseLastEntry(buf []byte, base int64) (*Entry, int64, []byte, bool, error) {
	var torn []byte
	body := buf
	if n := bytes.LastIndexByte(body, '\n'); n != len(body)-1 {
		torn, body = body[n+1:], body[:n+1]
	}
	if len(body) == 0 {
		return nil, base, torn, base == 0, nil
	}
	prev := bytes.LastIndexByte(body[:len(body)-1], '\n')
	if prev < 0 && base > 0 {
		return nil, 0, nil, false, nil
	}
	e, err := decodeEntry(bytes.TrimSuffix(body[prev+1:], []byte("\n")))
	if err != nil {
		return nil, 0, nil, true, errUnreadableTail
	}
	return &e, base + int64(len(body)), torn, true, nil
}

// errUnreadableTail stops appends to a log whose last whole entry does not
// parse: that is damage, not a crash, and 'moat audit' reports it.
var errUnreadableTail = errors.New("the audit log's last entry is unreadable; run 'moat audit' to see what is wrong")

// Release closes the file without a checkpoint: the run goes on, and a
// later writer (another moat process) continues the chain. A Log that
// dropped events records how many first.
func (l *Log) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.f.Close()
	if l.cap.count == 0 {
		return nil
	}
	return l.finish(false)
}
