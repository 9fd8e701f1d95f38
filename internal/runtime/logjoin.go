package runtime

import (
	"bytes"
	"io"
	"time"
)

// engineMessage is the most text the Docker engine keeps in one log
// message: it splits a longer line into messages of exactly this size, and
// with timestamps asked for it prefixes every one of them, so a long line
// would come back with times in its middle.
const engineMessage = 16 << 10

// maxStamp bounds a "TIMESTAMP " prefix.
const maxStamp = 40

// joinedLines writes a stream of "TIMESTAMP text" log messages to w with
// the timestamps the engine put inside long lines removed: each line keeps
// only its first. A prefix that does not parse as a time is text, kept.
type joinedLines struct {
	w     io.Writer
	n     int    // text bytes of the current message
	cont  bool   // the message continues a line: its timestamp goes
	stamp []byte // a prefix being read, at most maxStamp bytes
	inTS  bool   // reading a prefix
}

func newJoinedLines(w io.Writer) *joinedLines { return &joinedLines{w: w, inTS: true} }

func (j *joinedLines) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if j.inTS {
			var err error
			if p, err = j.readStamp(p); err != nil {
				return total - len(p), err
			}
			continue
		}
		take := min(len(p), engineMessage-j.n)
		if i := bytes.IndexByte(p[:take], '\n'); i >= 0 {
			take = i + 1
		}
		if _, err := j.w.Write(p[:take]); err != nil {
			return total - len(p), err
		}
		j.n += take
		ended := p[take-1] == '\n'
		p = p[take:]
		if ended || j.n == engineMessage {
			j.inTS, j.cont, j.n = true, !ended, 0
		}
	}
	return total, nil
}

// readStamp reads a message's prefix from p and returns the rest of p.
func (j *joinedLines) readStamp(p []byte) ([]byte, error) {
	i := bytes.IndexAny(p, " \n")
	room := maxStamp - len(j.stamp)
	switch {
	case i < 0 && len(p) < room: // the prefix goes on in the next write
		j.stamp = append(j.stamp, p...)
		return nil, nil
	case i < 0 || i >= room: // too long for a timestamp: text
		i = min(len(p), room) - 1
	}
	j.stamp = append(j.stamp, p[:i+1]...)
	err := j.endStamp()
	return p[i+1:], err
}

// endStamp writes the prefix read, unless it is a timestamp inside a line.
func (j *joinedLines) endStamp() error {
	defer func() { j.stamp = j.stamp[:0] }()
	last := j.stamp[len(j.stamp)-1]
	isTime := false
	if last == ' ' {
		_, err := time.Parse(time.RFC3339Nano, string(j.stamp[:len(j.stamp)-1]))
		isTime = err == nil
	}
	j.inTS = last == '\n' // not a prefix; a line ended: a new message
	if isTime && j.cont {
		return nil
	}
	if !isTime {
		j.cont = false // not the engine's messages: keep every byte from here
	}
	_, err := j.w.Write(j.stamp)
	return err
}
