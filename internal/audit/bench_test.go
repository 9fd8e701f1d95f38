package audit

import (
	"bytes"
	"crypto/ed25519"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkVerify reports how many entries per second verification checks
// (target: at least 200,000).
func BenchmarkVerify(b *testing.B) {
	key := testKey(b)
	data := writeLogEvery(b, key, 20000, DefaultCheckpointEvery)
	pub := key.Public().(ed25519.PublicKey)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var entries int
	for i := 0; i < b.N; i++ {
		r, err := Verify(bytes.NewReader(data), testRun, pub)
		if err != nil || len(r.Problems) != 0 {
			b.Fatalf("%v %+v", err, r.Problems)
		}
		entries += r.Entries
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppend is the cost of recording one network event (not synced;
// a checkpoint, synced, every DefaultCheckpointEvery entries).
func BenchmarkAppend(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "audit.jsonl"), testRun, testKey(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]string{"method": "GET", "host": "api.github.com", "path": "/repos/x/y", "status": "200",
		"grant": "github", "decision": "allow", "bytes_in": "1234", "bytes_out": "56", "duration_ms": "12"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data["n"] = strconv.Itoa(i)
		if _, err := l.Append("net.request", data, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
