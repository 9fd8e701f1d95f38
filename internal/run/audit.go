package run

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
)

// AuditFile is a run's audit log in its directory: in the proxy's own
// directory, since the proxy appends to it. Runs of moat before that kept
// it at the top of the run's directory, as LegacyAuditFile.
const (
	AuditFile       = state.ProxyDir + "/audit.jsonl"
	LegacyAuditFile = "audit.jsonl"
)

// OpenAuditLog opens run id's audit log for reading, without following a
// link: the proxy could have put one there.
func OpenAuditLog(s *state.Store, id string) (*os.File, error) {
	f, err := s.OpenFile(id, AuditFile, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if lf, lerr := s.OpenFile(id, LegacyAuditFile, os.O_RDONLY, 0); lerr == nil {
			return lf, nil
		}
	}
	return f, err
}

// auditPath is where the CLI appends to run r's log: the legacy place for
// a run begun by an older moat.
func (m *Manager) auditPath(r *state.Run) string {
	if _, err := os.Lstat(m.Store.Path(r.ID, AuditFile)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(m.Store.Path(r.ID, LegacyAuditFile)); err == nil {
			return m.Store.Path(r.ID, LegacyAuditFile)
		}
	}
	return m.Store.Path(r.ID, AuditFile)
}

// record appends an event to the run's audit log. Auditing never stops a
// run: a failure to record is reported as a warning.
func (m *Manager) record(r *state.Run, kind string, data map[string]string, durable bool) {
	m.withAudit(r, func(l *audit.Log) error {
		_, err := l.Append(kind, data, durable)
		return err
	}, (*audit.Log).Release)
}

// certifyRunKey records that the user's key vouches for pub, run r's own
// key, with which its proxy signs checkpoints.
func (m *Manager) certifyRunKey(r *state.Run, pub ed25519.PublicKey) error {
	var err error
	m.withAudit(r, func(l *audit.Log) error {
		_, err = l.AppendBatch([]audit.Event{audit.CertifyRunKey(l.Key(), r.ID, pub, m.now())}, true)
		return err
	}, (*audit.Log).Release)
	return err
}

// closeAudit signs the end of the run's log with the user's key, once the
// proxy (which holds the run's key) has stopped.
func (m *Manager) closeAudit(r *state.Run) {
	m.withAudit(r, func(*audit.Log) error { return nil }, (*audit.Log).Close)
}

func (m *Manager) withAudit(r *state.Run, do func(*audit.Log) error, done func(*audit.Log) error) {
	if m.SigningKey == nil {
		return
	}
	key, err := m.SigningKey()
	if err != nil {
		m.warnf("audit log of run %s: %v", r.ID, err)
		return
	}
	l, err := audit.Open(m.auditPath(r), r.ID, key, audit.Options{})
	if err != nil {
		m.warnf("audit log of run %s: %v", r.ID, err)
		return
	}
	err = do(l)
	if derr := done(l); err == nil {
		err = derr
	}
	if err != nil {
		m.warnf("audit log of run %s: %v", r.ID, err)
	}
}

// SigningKeyFunc loads the user's audit signing key once.
type SigningKeyFunc func() (ed25519.PrivateKey, error)

func runCreatedEvent(r *state.Run, configDigest string) map[string]string {
	return map[string]string{
		"run_id": r.ID, "name": r.Name, "workspace": r.Workspace, "image": r.Image, "image_hash": r.ImageHash,
		"dependencies": strings.Join(r.Deps, " "), "command": strings.Join(r.Command, " "),
		"config_digest": configDigest, "moat_version": r.MoatVersion,
		"detached": strconv.FormatBool(r.Detached), "keep": strconv.FormatBool(r.Keep),
		"policy": r.Policy, "grants": strings.Join(r.Grants, ","), "limits": recordedLimits(r.Limits),
	}
}

func containerCreatedEvent(r *state.Run, spec runtime.ContainerSpec) map[string]string {
	ev := map[string]string{
		"container_id": r.ContainerID, "image": spec.Image,
		"cap_drop": strings.Join(spec.CapDrop, ","), "cap_add": strings.Join(spec.CapAdd, ","),
		"security_opt":          strings.Join(spec.SecurityOpt, ","),
		"no_new_privileges":     strconv.FormatBool(spec.NoNewPrivileges),
		"unmasked_system_paths": strconv.FormatBool(spec.UnmaskSystemPaths),
		"limits":                limitsEvent(config.Limits{Memory: spec.Memory, NanoCPUs: spec.NanoCPUs, Pids: spec.PidsLimit}),
	}
	var what, why []string
	for _, p := range r.Privileges {
		what, why = append(what, p.What), append(why, p.Reason)
	}
	if len(what) > 0 {
		ev["elevated"], ev["elevation_reason"] = strings.Join(what, "; "), strings.Join(why, ", ")
	}
	return ev
}

// logDigest hashes and counts the saved output log as it is written, for
// the audit trail.
type logDigest struct {
	h            hash.Hash
	bytes, lines int
}

func newLogDigest() *logDigest { return &logDigest{h: sha256.New()} }

func (d *logDigest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.bytes += len(p)
	d.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

// event describes the saved log, or why it was not saved.
func (d *logDigest) event(err error) map[string]string {
	if err != nil {
		return map[string]string{"saved": "false", "error": err.Error()}
	}
	return map[string]string{"file": state.LogFile, "sha256": hex.EncodeToString(d.h.Sum(nil)),
		"bytes": strconv.Itoa(d.bytes), "lines": strconv.Itoa(d.lines)}
}
