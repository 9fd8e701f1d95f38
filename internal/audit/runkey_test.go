package audit

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runKeyLog is how a run writes its log: the CLI (user key) records the
// run and certifies the run's key, the proxy (run key) records requests
// with checkpoints, and the CLI signs the end once the proxy has stopped.
// step, when set, is called at each stage to change what is written.
type runKeyLog struct {
	user, run ed25519.PrivateKey
	path      string
}

func newRunKeyLog(t testing.TB) *runKeyLog {
	return &runKeyLog{user: testKey(t), run: testKey(t), path: filepath.Join(t.TempDir(), "audit.jsonl")}
}

func (l *runKeyLog) open(t testing.TB, key ed25519.PrivateKey) *Log {
	t.Helper()
	lg, err := Open(l.path, testRun, key, Options{CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

func (l *runKeyLog) append(t testing.TB, key ed25519.PrivateKey, events ...Event) {
	t.Helper()
	lg := l.open(t, key)
	if _, err := lg.AppendBatch(events, true); err != nil {
		t.Fatal(err)
	}
	lg.Release()
}

func (l *runKeyLog) certify(t testing.TB, signer ed25519.PrivateKey, runID string) {
	t.Helper()
	l.append(t, l.user, CertifyRunKey(signer, runID, l.run.Public().(ed25519.PublicKey), time.Now()))
}

func (l *runKeyLog) requests(t testing.TB, n int) {
	t.Helper()
	events := make([]Event, n)
	for i := range events {
		events[i] = Event{Kind: KindNetRequest, Data: map[string]string{"n": strconv.Itoa(i)}}
	}
	l.append(t, l.run, events...)
}

func (l *runKeyLog) close(t testing.TB, key ed25519.PrivateKey) {
	t.Helper()
	if err := l.open(t, key).Close(); err != nil {
		t.Fatal(err)
	}
}

func (l *runKeyLog) verify(t testing.TB) Report {
	t.Helper()
	data, err := os.ReadFile(l.path)
	if err != nil {
		t.Fatal(err)
	}
	return verifyBytes(t, data, l.user.Public().(ed25519.PublicKey))
}

// writeRunKeyLog writes a good log: run.created, the run key's
// certificate, 12 requests with run-key checkpoints, the user's final.
func writeRunKeyLog(t testing.TB) *runKeyLog {
	l := newRunKeyLog(t)
	l.append(t, l.user, Event{Kind: KindRunCreated})
	l.certify(t, l.user, testRun)
	l.requests(t, 12)
	l.append(t, l.user, Event{Kind: KindRunFinished})
	l.close(t, l.user)
	return l
}

func TestRunKeyChainVerifies(t *testing.T) {
	l := writeRunKeyLog(t)
	r := l.verify(t)
	if len(r.Problems) != 0 || !r.Closed {
		t.Fatalf("run-key log: problems %v, closed %v; want a clean closed log", r.Problems, r.Closed)
	}
	if want := Fingerprint(l.run.Public().(ed25519.PublicKey)); len(r.RunKeys) != 1 || r.RunKeys[0] != want {
		t.Fatalf("run keys %v, want [%s]", r.RunKeys, want)
	}
	if r.Checkpoints < 3 {
		t.Fatalf("%d checkpoints, want the run key's and the final one", r.Checkpoints)
	}
	data, _ := os.ReadFile(l.path)
	b, err := NewBundle(bytes.NewReader(data), testRun, l.user.Public().(ed25519.PublicKey), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if br, err := b.Verify(); err != nil || len(br.Problems) != 0 || !br.Closed {
		t.Fatalf("bundle of a run-key log: %v %+v", err, br.Problems)
	}
}

// TestRunKeyChainFailures: every break in the chain of trust from the
// user's key through the run's key to the final checkpoint is tampering,
// and says which link failed.
func TestRunKeyChainFailures(t *testing.T) {
	other := testKey(t)
	tests := []struct {
		name  string
		write func(t *testing.T, l *runKeyLog)
		want  string
	}{
		{"run key never certified", func(t *testing.T, l *runKeyLog) {
			l.append(t, l.user, Event{Kind: KindRunCreated})
			l.requests(t, 12)
			l.close(t, l.user)
		}, "not certified"},
		{"certified after it signed", func(t *testing.T, l *runKeyLog) {
			l.requests(t, 6)
			l.certify(t, l.user, testRun)
			l.close(t, l.user)
		}, "not certified"},
		{"certified by another key", func(t *testing.T, l *runKeyLog) {
			l.certify(t, other, testRun)
			l.requests(t, 12)
			l.close(t, l.user)
		}, "run key certificate"},
		{"certified for another run", func(t *testing.T, l *runKeyLog) {
			l.certify(t, l.user, "another-run")
			l.requests(t, 12)
			l.close(t, l.user)
		}, "run key certificate"},
		{"run key signs after the final checkpoint", func(t *testing.T, l *runKeyLog) {
			l.certify(t, l.user, testRun)
			l.requests(t, 3)
			l.close(t, l.user)
			l.requests(t, 12)
		}, "after the final checkpoint"},
		{"run key signs the final checkpoint", func(t *testing.T, l *runKeyLog) {
			l.certify(t, l.user, testRun)
			l.requests(t, 3)
			l.close(t, l.run)
		}, "final checkpoint"},
		{"an unknown key signs", func(t *testing.T, l *runKeyLog) {
			l.certify(t, l.user, testRun)
			l.append(t, other, Event{Kind: KindNetRequest}, Event{Kind: KindNetRequest}, Event{Kind: KindNetRequest},
				Event{Kind: KindNetRequest}, Event{Kind: KindNetRequest})
			l.close(t, l.user)
		}, "signed by key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newRunKeyLog(t)
			tt.write(t, l)
			r := l.verify(t)
			p := r.Tampering()
			if p == nil || !strings.Contains(p.Reason, tt.want) || p.Seq == 0 {
				t.Fatalf("got problems %+v, want tampering at an entry saying %q", r.Problems, tt.want)
			}
		})
	}
}

// TestRunKeyCertificateIsBound: the certificate's signature covers the
// run, the key and the time; changing one while keeping the entry's
// hash chain intact (as a writer with the run key could) is caught.
func TestRunKeyCertificateIsBound(t *testing.T) {
	user, run := testKey(t), testKey(t)
	ev := CertifyRunKey(user, testRun, run.Public().(ed25519.PublicKey), time.Now())
	for _, field := range []string{"public_key", "created", "run_id"} {
		data := map[string]string{}
		for k, v := range ev.Data {
			data[k] = v
		}
		data[field] = testKeyBase64(t)
		if err := checkRunKeyCert(data, testRun, user.Public().(ed25519.PublicKey)); err == nil {
			t.Errorf("a certificate with %s changed was accepted", field)
		}
	}
	if err := checkRunKeyCert(ev.Data, testRun, user.Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("the certificate as made: %v", err)
	}
}
