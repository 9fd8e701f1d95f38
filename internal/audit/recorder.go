package audit

import (
	"sync"
	"time"
)

// recorderBuffer is how many events may wait for the writer; a full buffer
// makes Record wait (nothing is ever dropped).
const recorderBuffer = 4096

// maxBatch bounds one write, so a burst does not hold the file lock long.
const maxBatch = 512

// batchWindow is how long the writer lets events gather after the first
// one of a batch: fewer, larger writes cost a busy proxy less than one
// wake-up and locked write per request, and 2 ms is far below what anyone
// reading the log could notice.
const batchWindow = 2 * time.Millisecond

// Recorder appends events to a Log in the background. Events that arrive
// together are written as one batch under one lock, so a busy writer (the
// proxy, one event per request) pays for a channel send per event instead
// of a locked write. Use Log.Append directly for events that must be on
// disk before the caller goes on.
type Recorder struct {
	log     *Log
	onError func(error)
	ch      chan Event
	done    chan struct{}
	once    sync.Once
}

// NewRecorder starts a recorder for l; onError (may be nil) hears about
// failed writes.
func NewRecorder(l *Log, onError func(error)) *Recorder {
	r := &Recorder{log: l, onError: onError, ch: make(chan Event, recorderBuffer), done: make(chan struct{})}
	go r.run()
	return r
}

// Record queues an event. It must not be called after Close.
func (r *Recorder) Record(kind string, data map[string]string) {
	r.ch <- Event{Kind: kind, Data: data}
}

// Close writes every queued event and stops the recorder; it does not
// close the Log. It is idempotent.
func (r *Recorder) Close() {
	r.once.Do(func() { close(r.ch) })
	<-r.done
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]Event, 0, maxBatch)
	for ev := range r.ch {
		batch = append(batch[:0], ev)
		time.Sleep(batchWindow)
	fill:
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-r.ch:
				if !ok {
					break fill
				}
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		if _, err := r.log.AppendBatch(batch, false); err != nil && r.onError != nil {
			r.onError(err)
		}
	}
}
