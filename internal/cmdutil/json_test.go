package cmdutil

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestWriteJSONIsInert: JSON of text holding control characters has none
// left raw, and decodes back to the same text.
func TestWriteJSONIsInert(t *testing.T) {
	in := map[string]string{"command": "a\x1b]52;c;eA==\x07b\u009b6nc\x7fd\u0085é"}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, in); err != nil {
		t.Fatal(err)
	}
	if i := strings.IndexFunc(buf.String(), func(r rune) bool { return r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f }); i >= 0 {
		t.Fatalf("raw control character in %q", buf.String())
	}
	var out map[string]string
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out["command"] != in["command"] {
		t.Fatalf("decoded %q, want %q", out["command"], in["command"])
	}
}
