package trace

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/termtext"
	"github.com/moatsh/moat/internal/trace"
)

// jsonRequest is one element of --json output. Fields are only ever added.
type jsonRequest struct {
	Time       time.Time `json:"time"` // RFC 3339, UTC
	Method     string    `json:"method"`
	URL        string    `json:"url"`
	Scheme     string    `json:"scheme"`
	Host       string    `json:"host"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
	Grant      string    `json:"grant"`
	Decision   string    `json:"decision"`
	Error      string    `json:"error"`
	Denied     bool      `json:"denied"`
	// Kind is "request" (through the proxy) or "ssh-sign" (a signature
	// the run's SSH agent made or refused; Key is the key's fingerprint).
	Kind string `json:"kind"`
	Key  string `json:"key,omitempty"`
}

func writeJSON(w io.Writer, reqs []trace.Request) error {
	out := make([]jsonRequest, len(reqs))
	for i, r := range reqs {
		kind := "request"
		if r.Method == trace.MethodSSHSign {
			kind = "ssh-sign"
		}
		out[i] = jsonRequest{
			Kind: kind, Key: r.Key, Time: r.Time.UTC(), Method: r.Method, URL: r.URL(), Scheme: r.Scheme, Host: r.Host, Path: r.Path,
			Status: r.Status, DurationMS: float64(r.Duration) / float64(time.Millisecond),
			BytesIn: r.BytesIn, BytesOut: r.BytesOut, Grant: r.Grant, Decision: r.Decision, Error: r.Error, Denied: r.Denied,
		}
	}
	return cmdutil.WriteJSON(w, out)
}

// maxURL is how much of a URL a terminal table shows.
const maxURL = 72

// writeTable prints aligned columns with local times and short sizes on a
// terminal, and tab-separated, untruncated fields with RFC 3339 times and
// byte counts otherwise.
func writeTable(w io.Writer, reqs []trace.Request, tty bool, loc *time.Location) error {
	var tw io.Writer = w
	var flush func() error
	if tty {
		t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		tw, flush = t, t.Flush
	}
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t"))
	for _, r := range reqs {
		fmt.Fprintln(tw, strings.Join(tableRow(r, tty, loc), "\t"))
	}
	if flush != nil {
		return flush()
	}
	return nil
}

var tableHeader = []string{"TIME", "METHOD", "URL", "STATUS", "DURATION", "IN", "OUT", "GRANT", "DECISION"}

// tableRow is r's fields in the table: on a terminal, local times, URLs
// cut to maxURL and short sizes.
func tableRow(r trace.Request, tty bool, loc *time.Location) []string {
	when := r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	// The agent chose the method, host and path (which decisions
	// quote): every field is shown without control sequences.
	u, in, out := termtext.Field(r.URL()), strconv.FormatInt(r.BytesIn, 10), strconv.FormatInt(r.BytesOut, 10)
	if tty {
		when, u, in, out = r.Time.In(loc).Format("15:04:05.000"), shorten(u, maxURL), size(r.BytesIn), size(r.BytesOut)
	}
	return []string{when, dash(termtext.Field(r.Method)), u, status(r.Status), duration(r.Duration),
		in, out, dash(termtext.Field(r.Grant)), dash(termtext.Field(r.Decision))}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// status is the status sent to the agent, "-" when none was.
func status(code int) string {
	if code == 0 {
		return "-"
	}
	return strconv.Itoa(code)
}

// duration is milliseconds under a second, else seconds to 10 ms.
func duration(d time.Duration) string {
	if ms := d.Round(time.Millisecond); ms < time.Second {
		return fmt.Sprintf("%dms", ms.Milliseconds())
	}
	return d.Round(10 * time.Millisecond).String()
}

// size is a byte count in B, kB, MB or GB (powers of 1000).
func size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, suffix := float64(n)/unit, "kB"
	for _, s := range []string{"MB", "GB", "TB"} {
		if f < unit {
			break
		}
		f, suffix = f/unit, s
	}
	return fmt.Sprintf("%.1f%s", f, suffix)
}

// shorten cuts s to n characters, the last one an ellipsis.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
