package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moatsh/moat/internal/plural"
)

// ProblemKind classifies what verification found wrong.
type ProblemKind string

const (
	// Tampered: an entry was changed, removed, added or reordered, or a
	// signature does not hold. Always an error.
	Tampered ProblemKind = "tampered"
	// TornTail: the log ends in a partial entry, as a writer killed while
	// writing leaves it. Everything before it verifies.
	TornTail ProblemKind = "torn-tail"
	// Unclosed: no final signed checkpoint covers the end of the log: the
	// run is still going, its writer stopped, or its tail was cut off.
	Unclosed ProblemKind = "unclosed"
	// Truncated: the log reached its cap and request events were dropped
	// (a log.truncated entry says how many); the chain still holds.
	Truncated ProblemKind = "truncated"
)

// Problem is one thing verification found.
type Problem struct {
	Kind   ProblemKind
	Line   int    // 1-based line in the log file, 0 when unknown
	Seq    uint64 // the entry's sequence number, 0 when unknown
	Reason string
}

func (p Problem) String() string {
	where := ""
	switch {
	case p.Seq > 0:
		where = fmt.Sprintf("entry %d (line %d): ", p.Seq, p.Line)
	case p.Line > 0:
		where = fmt.Sprintf("line %d: ", p.Line)
	}
	return where + p.Reason
}

// Report is the result of verifying a log.
type Report struct {
	Entries        int
	First, Last    time.Time
	Kinds          map[string]int
	Checkpoints    int
	SignedThrough  uint64 // the last entry a valid checkpoint covers
	Closed         bool   // the log ends with a valid final checkpoint
	KeyFingerprint string
	// RunKeys are the fingerprints of the run keys the log certifies.
	RunKeys []string
	// Attestations describe the log's egress.attested entries
	// (AttestationNote).
	Attestations []string
	Problems     []Problem // at most one Tampered, which ends verification
}

// Tampering returns the tampering found, or nil.
func (r *Report) Tampering() *Problem {
	for i := range r.Problems {
		if r.Problems[i].Kind == Tampered {
			return &r.Problems[i]
		}
	}
	return nil
}

// Verify reads a log file and checks its chain and signatures for run
// runID against the public key pub.
func Verify(r io.Reader, runID string, pub ed25519.PublicKey) (Report, error) {
	v := newVerifier(runID, pub)
	br := bufio.NewReaderSize(r, 64*1024)
	for line := 1; ; line++ {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			raw, err = readLongLine(br, raw)
		}
		if err == io.EOF {
			if len(raw) > 0 {
				v.report.Problems = append(v.report.Problems, Problem{Kind: TornTail, Line: line,
					Reason: fmt.Sprintf("the log ends in a partial entry (%s): a writer stopped while writing it; everything before it verifies", plural.Count(len(raw), "byte"))})
			}
			break
		}
		if err != nil {
			return v.report, fmt.Errorf("reading the audit log: %w", err)
		}
		d, err := decodeLine(raw[:len(raw)-1])
		if err != nil {
			v.fail(line, 0, err.Error())
			return v.report, nil
		}
		if !v.check(line, d.Entry, hashBody(d.body), d.time) {
			return v.report, nil
		}
	}
	v.finish()
	return v.report, nil
}

func readLongLine(br *bufio.Reader, first []byte) ([]byte, error) {
	buf := append([]byte(nil), first...)
	rest, err := br.ReadBytes('\n')
	return append(buf, rest...), err
}

// VerifyEntries checks entries already parsed (from a bundle).
func VerifyEntries(entries []Entry, runID string, pub ed25519.PublicKey) Report {
	v := newVerifier(runID, pub)
	for i, e := range entries {
		if !v.check(i+1, e, ComputeHash(e), "") {
			return v.report
		}
	}
	v.finish()
	return v.report
}

type verifier struct {
	runID    string
	pub      ed25519.PublicKey
	runKeys  map[string]ed25519.PublicKey // by fingerprint, once certified
	closed   bool                         // the user's final checkpoint was seen
	report   Report
	prevHash string
	prevSeq  uint64
	last     Entry
	// lastRawTime is the last entry's time as written (file logs).
	lastRawTime string
}

func newVerifier(runID string, pub ed25519.PublicKey) *verifier {
	return &verifier{runID: runID, pub: pub, prevHash: Genesis(runID),
		report: Report{Kinds: map[string]int{}, KeyFingerprint: Fingerprint(pub)}}
}

func (v *verifier) fail(line int, seq uint64, reason string) {
	v.report.Problems = append(v.report.Problems, Problem{Kind: Tampered, Line: line, Seq: seq, Reason: reason})
}

// check verifies one entry, whose content hashes to computed, against the
// chain so far; false ends verification at the first tampering. rawTime,
// when set, is the entry's time as written, parsed only if reported.
func (v *verifier) check(line int, e Entry, computed, rawTime string) bool {
	want := v.prevSeq + 1
	switch {
	case e.Seq == v.prevSeq && e.Seq > 0:
		v.fail(line, e.Seq, fmt.Sprintf("a second entry %d: an entry was duplicated", e.Seq))
	case e.Seq < want:
		v.fail(line, e.Seq, fmt.Sprintf("out of order: entry %d comes after entry %d", e.Seq, v.prevSeq))
	case e.Seq > want:
		if e.Seq-1 == want {
			v.fail(line, e.Seq, fmt.Sprintf("entry %d is missing", want))
		} else {
			v.fail(line, e.Seq, fmt.Sprintf("entries %d to %d are missing", want, e.Seq-1))
		}
	case e.Prev != v.prevHash:
		v.fail(line, e.Seq, fmt.Sprintf("does not follow entry %d: its previous-entry hash does not match", v.prevSeq))
	case computed != e.Hash:
		v.fail(line, e.Seq, "was changed: its hash does not match its content")
	case e.Kind == KindCheckpoint && !v.checkpoint(line, e):
	case e.Kind == KindRunKey && !v.runKey(line, e):
	default:
		v.accept(e, rawTime)
		return true
	}
	return false
}

func (v *verifier) checkpoint(line int, e Entry) bool {
	covers, err := strconv.ParseUint(e.Data["covers"], 10, 64)
	final := e.Data["final"] == "true"
	sig, serr := base64.StdEncoding.DecodeString(e.Data["sig"])
	pub, byRunKey := v.signer(e.Data["key"])
	switch {
	case err != nil || covers != e.Seq-1 || e.Data["head"] != e.Prev:
		v.fail(line, e.Seq, "checkpoint does not cover the entries before it")
	case pub == nil:
		v.fail(line, e.Seq, fmt.Sprintf("checkpoint signed by key %s, not the expected %s nor a run key it certified before (a run key not certified by your key signs nothing)", e.Data["key"], Fingerprint(v.pub)))
	case serr != nil || !ed25519.Verify(pub, checkpointMessage(v.runID, covers, e.Data["head"], final), sig):
		v.fail(line, e.Seq, "checkpoint signature does not verify")
	case byRunKey && final:
		v.fail(line, e.Seq, "final checkpoint signed by the run's key: only your key closes a run")
	case byRunKey && v.closed:
		v.fail(line, e.Seq, "checkpoint signed by the run's key after the final checkpoint: the run key was used after the run ended")
	default:
		v.closed = v.closed || final
		v.report.Checkpoints++
		v.report.SignedThrough = covers
		return true
	}
	return false
}

// signer returns the key a checkpoint names: the user's, or a run key
// certified earlier in the log; nil if neither.
func (v *verifier) signer(fp string) (ed25519.PublicKey, bool) {
	if fp == v.report.KeyFingerprint {
		return v.pub, false
	}
	k := v.runKeys[fp]
	return k, k != nil
}

// runKey checks a run key certificate and trusts its key from here on.
func (v *verifier) runKey(line int, e Entry) bool {
	pub, err := certifiedKey(e.Data, v.runID, v.pub)
	if err != nil {
		v.fail(line, e.Seq, err.Error())
		return false
	}
	if v.runKeys == nil {
		v.runKeys = map[string]ed25519.PublicKey{}
	}
	fp := Fingerprint(pub)
	if v.runKeys[fp] == nil {
		v.report.RunKeys = append(v.report.RunKeys, fp)
	}
	v.runKeys[fp] = pub
	return true
}

func (v *verifier) accept(e Entry, rawTime string) {
	r := &v.report
	if rawTime != "" {
		e.Time = time.Time{}
		v.lastRawTime = rawTime
	}
	if r.Entries == 0 {
		r.First = entryTime(e, rawTime)
	}
	r.Entries++
	r.Kinds[e.Kind]++
	if e.Kind == KindEgressAttested {
		r.Attestations = append(r.Attestations, AttestationNote(e))
	}
	if e.Kind == KindLogTruncated {
		r.Problems = append(r.Problems, Problem{Kind: Truncated, Reason: TruncationNote(e)})
	}
	v.prevSeq, v.prevHash, v.last = e.Seq, e.Hash, e
}

// entryTime is e's time, parsed from rawTime when the fast path kept it
// as text.
func entryTime(e Entry, rawTime string) time.Time {
	if rawTime == "" {
		return e.Time
	}
	t, _ := time.Parse(time.RFC3339Nano, rawTime)
	return t
}

// finish notes a log that no final checkpoint closes.
func (v *verifier) finish() {
	r := &v.report
	r.Last = entryTime(v.last, v.lastRawTime)
	r.Closed = v.last.Kind == KindCheckpoint && v.last.Data["final"] == "true"
	if r.Closed {
		return
	}
	unsigned := v.last.Seq // entries after the last checkpoint
	if r.Checkpoints > 0 {
		unsigned -= r.SignedThrough + 1
	}
	r.Problems = append(r.Problems, Problem{Kind: Unclosed, Seq: v.last.Seq,
		Reason: fmt.Sprintf("no final signed checkpoint: the last %s %s not covered by a signature (the run is still going, its writer stopped, or the end of the log was cut off)",
			plural.Count(unsigned, "entry", "entries"), plural.Noun(unsigned, "is", "are"))})
}

// Summary is a short description of a clean report.
func (r *Report) Summary() string {
	return fmt.Sprintf("%s, %s to %s, %s", plural.Count(r.Entries, "entry", "entries"),
		r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339), plural.Count(r.Checkpoints, "signed checkpoint"))
}
