package trace

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), the subset
// moat can fill: every required field is present. moat records no
// headers, cookies, query strings or bodies, so those lists are empty and
// the header sizes unknown (-1). The proxy speaks HTTP/1.1 to the agent.
// moat's own fields start with an underscore, as the spec asks: the
// grant, decision and error of each request, and the link to the audit
// log (harLink) that 'moat audit verify --har' checks.

type harFile struct {
	Log harLog `json:"log"`
}

type harLog struct {
	Version string     `json:"version"`
	Creator harCreator `json:"creator"`
	harLink
	Pages   []struct{} `json:"pages"`
	Entries []harEntry `json:"entries"`
}

// harLink ties an archive to the audit log it was written from: the run,
// and the range of entries whose requests it holds, every one of them.
// The last entry's hash pins the range to that log: a run's log only
// grows, so entries 1 to LastSeq keep their hashes.
type harLink struct {
	RunID    string `json:"_moat_run_id"`
	FirstSeq uint64 `json:"_moat_audit_first_seq"`
	LastSeq  uint64 `json:"_moat_audit_last_seq"`
	LastHash string `json:"_moat_audit_last_hash"`
}

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harEntry struct {
	StartedDateTime string      `json:"startedDateTime"`
	Time            float64     `json:"time"`
	Request         harRequest  `json:"request"`
	Response        harResponse `json:"response"`
	Cache           struct{}    `json:"cache"`
	Timings         harTimings  `json:"timings"`
	Comment         string      `json:"comment,omitempty"`
	Grant           string      `json:"_moat_grant,omitempty"`
	Decision        string      `json:"_moat_decision"`
	Error           string      `json:"_moat_error,omitempty"`
	AuditSeq        uint64      `json:"_moat_audit_seq"`
	AuditHash       string      `json:"_moat_audit_hash"`
}

type harNameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harRequest struct {
	Method      string         `json:"method"`
	URL         string         `json:"url"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []harNameValue `json:"cookies"`
	Headers     []harNameValue `json:"headers"`
	QueryString []harNameValue `json:"queryString"`
	HeadersSize int64          `json:"headersSize"`
	BodySize    int64          `json:"bodySize"`
}

type harResponse struct {
	Status      int            `json:"status"`
	StatusText  string         `json:"statusText"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []harNameValue `json:"cookies"`
	Headers     []harNameValue `json:"headers"`
	Content     harContent     `json:"content"`
	RedirectURL string         `json:"redirectURL"`
	HeadersSize int64          `json:"headersSize"`
	BodySize    int64          `json:"bodySize"`
}

type harContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
}

// harTimings: moat measures one span per request, from its arrival to the
// end of the response, which HAR calls wait.
type harTimings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// harTime is ISO 8601 with milliseconds, as browsers write it.
const harTime = "2006-01-02T15:04:05.000Z07:00"

// tunnelComment explains a CONNECT entry to whoever opens the archive.
const tunnelComment = "CONNECT tunnel: moat saw bytes, not requests; bodySize counts the bytes each way"

// WriteHAR writes the requests of run runID's log l as a HAR 1.2 archive
// that browser developer tools (Network panel, Import HAR) open, linked
// to the log: each entry names its audit entry, and the archive the run
// and the entries it covers. creatorVersion is moat's version.
func WriteHAR(w io.Writer, l Log, runID, creatorVersion string) error {
	f := harFile{Log: harLog{
		Version: "1.2",
		Creator: harCreator{Name: "moat", Version: creatorVersion},
		harLink: harLink{RunID: runID, FirstSeq: 1, LastSeq: l.LastSeq, LastHash: l.LastHash},
		Pages:   []struct{}{},
		Entries: make([]harEntry, 0, len(l.Requests)),
	}}
	for _, r := range l.Requests {
		f.Log.Entries = append(f.Log.Entries, harEntryOf(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

func harEntryOf(r Request) harEntry {
	ms := float64(r.Duration) / float64(time.Millisecond)
	e := harEntry{
		StartedDateTime: r.Time.UTC().Format(harTime),
		Time:            ms,
		Request: harRequest{
			Method: r.Method, URL: harURL(r), HTTPVersion: "HTTP/1.1",
			Cookies: []harNameValue{}, Headers: []harNameValue{}, QueryString: []harNameValue{},
			HeadersSize: -1, BodySize: r.BytesOut,
		},
		Response: harResponse{
			Status: r.Status, StatusText: http.StatusText(r.Status), HTTPVersion: "HTTP/1.1",
			Cookies: []harNameValue{}, Headers: []harNameValue{},
			Content:     harContent{Size: r.BytesIn, MimeType: "x-unknown"},
			HeadersSize: -1, BodySize: r.BytesIn,
		},
		Timings:  harTimings{Wait: ms},
		Grant:    r.Grant,
		Decision: r.Decision,
		Error:    r.Error,

		AuditSeq:  r.Seq,
		AuditHash: r.Hash,
	}
	if r.Tunnel() {
		e.Comment = tunnelComment
	}
	return e
}

// harURL is r's URL, absolute as HAR requires: a tunnel becomes
// https://host:port, and its method, CONNECT, says what it was.
func harURL(r Request) string {
	if r.Tunnel() {
		return "https://" + r.authority()
	}
	return r.URL()
}
