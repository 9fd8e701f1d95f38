package trace

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// harRequired is every required field of HAR 1.2 in the objects moat
// writes, with its JSON type, by path (http://www.softwareishard.com/blog/har-12-spec/).
// cache has no required fields; pages, when present, must be an array.
var harRequired = map[string]map[string]string{
	"":                               {"log": "object"},
	"log":                            {"version": "string", "creator": "object", "entries": "array"},
	"log.creator":                    {"name": "string", "version": "string"},
	"log.entries[]":                  {"startedDateTime": "string", "time": "number", "request": "object", "response": "object", "cache": "object", "timings": "object"},
	"log.entries[].request":          {"method": "string", "url": "string", "httpVersion": "string", "cookies": "array", "headers": "array", "queryString": "array", "headersSize": "number", "bodySize": "number"},
	"log.entries[].response":         {"status": "number", "statusText": "string", "httpVersion": "string", "cookies": "array", "headers": "array", "content": "object", "redirectURL": "string", "headersSize": "number", "bodySize": "number"},
	"log.entries[].response.content": {"size": "number", "mimeType": "string"},
	"log.entries[].cache":            {},
	"log.entries[].timings":          {"send": "number", "wait": "number", "receive": "number"},
}

// harOptional is every optional field HAR 1.2 defines on those objects;
// anything else must be a custom field, starting with an underscore.
var harOptional = map[string]map[string]string{
	"log":                            {"browser": "object", "pages": "array", "comment": "string"},
	"log.creator":                    {"comment": "string"},
	"log.entries[]":                  {"pageref": "string", "serverIPAddress": "string", "connection": "string", "comment": "string"},
	"log.entries[].request":          {"postData": "object", "comment": "string"},
	"log.entries[].response":         {"comment": "string"},
	"log.entries[].response.content": {"compression": "number", "text": "string", "encoding": "string", "comment": "string"},
	"log.entries[].cache":            {"beforeRequest": "object", "afterRequest": "object", "comment": "string"},
	"log.entries[].timings":          {"blocked": "number", "dns": "number", "connect": "number", "ssl": "number", "comment": "string"},
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// checkHAR walks a decoded archive and reports every field that is
// missing, of the wrong type, or neither in the spec nor custom.
func checkHAR(path string, v any) []string {
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %s, want object", path, jsonType(v))}
	}
	var problems []string
	for name, want := range harRequired[path] {
		got, present := obj[name]
		switch {
		case !present:
			problems = append(problems, fmt.Sprintf("%s: required field %q missing", path, name))
		case jsonType(got) != want:
			problems = append(problems, fmt.Sprintf("%s.%s: %s, want %s", path, name, jsonType(got), want))
		}
	}
	for name, got := range obj {
		_, required := harRequired[path][name]
		want, optional := harOptional[path][name]
		switch {
		case required || strings.HasPrefix(name, "_"):
		case !optional:
			problems = append(problems, fmt.Sprintf("%s: %q is not a HAR 1.2 field and not custom (_name)", path, name))
		case jsonType(got) != want:
			problems = append(problems, fmt.Sprintf("%s.%s: %s, want %s", path, name, jsonType(got), want))
		}
	}
	for name, child := range obj {
		sub := strings.TrimPrefix(path+"."+name, ".")
		if items, ok := child.([]any); ok && sub == "log.entries" {
			for _, it := range items {
				problems = append(problems, checkHAR(sub+"[]", it)...)
			}
			continue
		}
		if _, known := harRequired[sub]; known {
			problems = append(problems, checkHAR(sub, child)...)
		}
	}
	return problems
}

// isoMillis is the startedDateTime shape: ISO 8601 with milliseconds.
var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

func harRequests() []Request {
	t0 := time.Date(2026, 11, 28, 10, 0, 4, 123456789, time.UTC)
	return []Request{
		{Time: t0, Method: "POST", Scheme: "https", Host: "api.github.com", Path: "/repos/o/r/pulls", Status: 201,
			Duration: 84250 * time.Microsecond, BytesIn: 5120, BytesOut: 312, Grant: "github", Decision: "allow"},
		{Time: t0.Add(time.Second), Method: "CONNECT", Host: "evil.example", Status: 403, Duration: 40 * time.Microsecond,
			Decision: "deny: host not allowed", Denied: true},
		{Time: t0.Add(2 * time.Second), Method: "CONNECT", Scheme: "tunnel", Host: "registry.npmjs.org", Status: 200,
			Duration: 3 * time.Second, BytesIn: 1 << 20, BytesOut: 4096, Decision: "allow"},
		{Time: t0.Add(3 * time.Second), Method: "GET", Scheme: "http", Host: "deb.debian.org", Path: "/debian/", Status: 502,
			Duration: 12 * time.Millisecond, Decision: "allow", Error: "dial tcp: connection refused"},
		{Time: t0.Add(4 * time.Second), Method: "GET", Scheme: "https", Host: "api.github.com", Path: "/", Status: 0, Decision: "allow"},
	}
}

func TestWriteHARIsValidHAR12(t *testing.T) {
	t.Parallel()
	for _, reqs := range [][]Request{harRequests(), nil} {
		t.Run(fmt.Sprintf("%d requests", len(reqs)), func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteHAR(&buf, Log{Requests: reqs, LastSeq: 9, LastHash: "ab12"}, "run1", "1.2.3"); err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			problems := checkHAR("", doc)
			sort.Strings(problems)
			if len(problems) > 0 {
				t.Fatalf("not valid HAR 1.2:\n  %s", strings.Join(problems, "\n  "))
			}
			log := doc.(map[string]any)["log"].(map[string]any)
			creator := log["creator"].(map[string]any)
			if log["version"] != "1.2" || creator["name"] != "moat" || creator["version"] != "1.2.3" {
				t.Fatalf("log header %v %v, want version 1.2 by moat 1.2.3", log["version"], creator)
			}
			if entries := log["entries"].([]any); len(entries) != len(reqs) {
				t.Fatalf("%d entries, want %d", len(entries), len(reqs))
			}
			for i, e := range log["entries"].([]any) {
				checkEntry(t, i, e.(map[string]any))
			}
		})
	}
}

// checkEntry checks what the spec says beyond field types.
func checkEntry(t *testing.T, i int, e map[string]any) {
	t.Helper()
	started := e["startedDateTime"].(string)
	if !isoMillis.MatchString(started) {
		t.Errorf("entry %d: startedDateTime %q is not ISO 8601 with milliseconds", i, started)
	}
	tm := e["timings"].(map[string]any)
	send, wait, receive := tm["send"].(float64), tm["wait"].(float64), tm["receive"].(float64)
	if send < 0 || wait < 0 || receive < 0 || e["time"].(float64) != send+wait+receive {
		t.Errorf("entry %d: time %v is not send+wait+receive (%v+%v+%v), all non-negative", i, e["time"], send, wait, receive)
	}
	req := e["request"].(map[string]any)
	if u, err := url.Parse(req["url"].(string)); err != nil || !u.IsAbs() || u.Host == "" {
		t.Errorf("entry %d: url %q is not absolute", i, req["url"])
	}
	if _, ok := e["_moat_decision"].(string); !ok {
		t.Errorf("entry %d: no _moat_decision", i)
	}
}

func TestWriteHAREntries(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteHAR(&buf, Log{Requests: harRequests()}, "run1", "test"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Log struct {
			Entries []struct {
				StartedDateTime string  `json:"startedDateTime"`
				Time            float64 `json:"time"`
				Request         struct {
					Method, URL string
					BodySize    int64 `json:"bodySize"`
				} `json:"request"`
				Response struct {
					Status     int    `json:"status"`
					StatusText string `json:"statusText"`
					BodySize   int64  `json:"bodySize"`
				} `json:"response"`
				Grant    *string `json:"_moat_grant"`
				Decision string  `json:"_moat_decision"`
				Error    *string `json:"_moat_error"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range doc.Log.Entries {
		s := fmt.Sprintf("%s %s %s %d %q %.3fms out=%d in=%d %s", e.StartedDateTime, e.Request.Method, e.Request.URL,
			e.Response.Status, e.Response.StatusText, e.Time, e.Request.BodySize, e.Response.BodySize, e.Decision)
		if e.Grant != nil {
			s += " grant=" + *e.Grant
		}
		if e.Error != nil {
			s += " error=" + *e.Error
		}
		got = append(got, s)
	}
	want := []string{
		`2026-11-28T10:00:04.123Z POST https://api.github.com/repos/o/r/pulls 201 "Created" 84.250ms out=312 in=5120 allow grant=github`,
		`2026-11-28T10:00:05.123Z CONNECT https://evil.example:443 403 "Forbidden" 0.040ms out=0 in=0 deny: host not allowed`,
		`2026-11-28T10:00:06.123Z CONNECT https://registry.npmjs.org:443 200 "OK" 3000.000ms out=4096 in=1048576 allow`,
		`2026-11-28T10:00:07.123Z GET http://deb.debian.org/debian/ 502 "Bad Gateway" 12.000ms out=0 in=0 allow error=dial tcp: connection refused`,
		`2026-11-28T10:00:08.123Z GET https://api.github.com/ 0 "" 0.000ms out=0 in=0 allow`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
