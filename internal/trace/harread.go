package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// HAR is an archive read back to be checked against the audit log it
// claims to come from (VerifyHAR). Everything in it is the word of
// whoever handed it over, moat's link included.
type HAR struct {
	RunID    string // _moat_run_id
	FirstSeq uint64 // _moat_audit_first_seq
	LastSeq  uint64 // _moat_audit_last_seq
	LastHash string // _moat_audit_last_hash
	// Entries are log.entries as JSON decoded them (objects are
	// map[string]any, numbers float64): VerifyHAR compares each, field
	// by field, with what the log says it must hold.
	Entries []any
}

// MaxHARSize bounds what ReadHAR reads. The largest audit log (64 MiB,
// about 200,000 requests) makes a HAR of about 250 MiB.
const MaxHARSize = 1 << 30

// ErrNoAuditLink is a HAR without moat's link to an audit log: written
// by another tool, or by a moat from before HARs carried it.
var ErrNoAuditLink = errors.New("it names no audit log (no _moat_run_id, _moat_audit_first_seq, _moat_audit_last_seq and _moat_audit_last_hash in log): it was not written by 'moat trace --har', or by a moat before HARs were linked to the audit log")

// ReadHAR reads an archive WriteHAR wrote. It fails when the file is not
// JSON (naming the line and column), not a HAR, or has no link to an
// audit log; problems inside entries are VerifyHAR's to name.
func ReadHAR(r io.Reader) (HAR, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxHARSize+1))
	if err != nil {
		return HAR{}, err
	}
	if len(data) > MaxHARSize {
		return HAR{}, fmt.Errorf("larger than %d MiB: no HAR moat writes is this large", MaxHARSize>>20)
	}
	var doc struct {
		Log *struct {
			RunID    *string `json:"_moat_run_id"`
			FirstSeq *uint64 `json:"_moat_audit_first_seq"`
			LastSeq  *uint64 `json:"_moat_audit_last_seq"`
			LastHash *string `json:"_moat_audit_last_hash"`
			Entries  *[]any  `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return HAR{}, jsonErrorAt(data, err)
	}
	l := doc.Log
	switch {
	case l == nil:
		return HAR{}, errors.New(`not a HAR file: it has no "log" object`)
	case l.Entries == nil:
		return HAR{}, errors.New(`not a HAR file: its log has no "entries" list`)
	case l.RunID == nil || *l.RunID == "" || l.FirstSeq == nil || l.LastSeq == nil || l.LastHash == nil:
		return HAR{}, ErrNoAuditLink
	case *l.FirstSeq == 0 || *l.FirstSeq-1 > *l.LastSeq:
		return HAR{}, fmt.Errorf("its audit range, entries %d to %d, is not a range of entries", *l.FirstSeq, *l.LastSeq)
	}
	return HAR{RunID: *l.RunID, FirstSeq: *l.FirstSeq, LastSeq: *l.LastSeq, LastHash: *l.LastHash, Entries: *l.Entries}, nil
}

// jsonErrorAt adds the line and column a decoding error happened at.
func jsonErrorAt(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &syntax):
		off = syntax.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	default:
		return err
	}
	// The offset is just past the byte that failed.
	pos := min(max(off-1, 0), int64(len(data)))
	before := data[:pos]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}
