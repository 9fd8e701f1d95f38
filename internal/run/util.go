package run

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// printable is termtext.Quote: text from agent.yaml or the workspace never
// carries a control sequence into a message.
func printable(s string) string { return termtext.Quote(s) }

// homeID names this moat home on the engine objects it creates (the
// moat.home label), so another home's objects can be told apart.
func (m *Manager) homeID() string {
	sum := sha256.Sum256([]byte(m.Store.Root))
	return hex.EncodeToString(sum[:6])
}

// runLabels are the labels of run r's object with role.
func (m *Manager) runLabels(r *state.Run, role string) map[string]string {
	lbl := labels.ForRun(r.ID, r.Name, role, m.Version)
	lbl[labels.Home] = m.homeID()
	return lbl
}
