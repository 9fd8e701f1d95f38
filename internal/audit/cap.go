package audit

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/plural"
)

// dropped counts the request events a Log left out past its cap.
type dropped struct {
	limit       int64
	count       uint64
	kinds       map[string]uint64
	first, last time.Time
}

// bulk reports whether events of kind come from the agent's activity,
// without bound, and so are what the cap drops.
func bulk(kind string) bool {
	switch kind {
	case KindNetRequest, KindNetDenied, KindCredentialInjected:
		return true
	}
	return false
}

// drops counts and reports an event that would start at offset size of a
// log over its limit.
func (d *dropped) drops(kind string, size int64) bool {
	if size < d.limit || !bulk(kind) {
		return false
	}
	now := time.Now().UTC()
	if d.count == 0 {
		d.first, d.kinds = now, map[string]uint64{}
	}
	d.count++
	d.kinds[kind]++
	d.last = now
	return true
}

// writeTruncated records, once, what the cap dropped. The caller holds the
// lock and has refreshed the head.
func (l *Log) writeTruncated() {
	d := &l.cap
	if d.count == 0 {
		return
	}
	data := map[string]string{
		"limit_bytes":   strconv.FormatInt(d.limit, 10),
		"dropped":       strconv.FormatUint(d.count, 10),
		"first_dropped": d.first.Format(time.RFC3339Nano),
		"last_dropped":  d.last.Format(time.RFC3339Nano),
	}
	for kind, n := range d.kinds {
		data["dropped."+kind] = strconv.FormatUint(n, 10)
	}
	l.write(KindLogTruncated, data)
	*d = dropped{limit: d.limit}
}

// TruncationNote describes a log.truncated entry for people: 'moat audit'
// and 'moat trace' print it.
func TruncationNote(e Entry) string {
	limit, _ := strconv.ParseInt(e.Data["limit_bytes"], 10, 64)
	var kinds []string
	for k, v := range e.Data {
		if kind, ok := strings.CutPrefix(k, "dropped."); ok {
			kinds = append(kinds, kind+" "+v)
		}
	}
	sort.Strings(kinds)
	return fmt.Sprintf("the log reached its cap of %s: %s request events from %s to %s were not recorded (%s)",
		FormatBytes(limit), e.Data["dropped"], e.Data["first_dropped"], e.Data["last_dropped"], strings.Join(kinds, ", "))
}

// FormatBytes renders a size as people write caps: "64 MiB", "8 KiB",
// or in bytes when it is not a whole number of either.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return plural.Count(n, "byte")
}
