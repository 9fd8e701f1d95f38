package run

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/grant"
)

// loginGrants holds one codex grant whose access token expires at exp.
type loginGrants struct{ exp time.Time }

func (l loginGrants) Get(name string) (grant.Grant, grant.Secret, error) {
	if name != "codex" {
		return grant.Grant{}, grant.Secret{}, &grant.NotFoundError{Name: name}
	}
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, l.exp.Unix())))
	login := grant.ChatGPTLogin{AccessToken: "h." + claims + ".s", RefreshToken: "rt", AccountID: "a"}
	return grant.Grant{Name: "codex", Kind: grant.Codex}, login.Secret(), nil
}

// TestExpiredLoginThatCannotBeRenewed checks that a run whose OAuth login
// has expired, and whose token endpoint cannot be reached, is refused
// before anything is built, telling the user to sign in again; and that a
// login that still has time left starts the run with a warning instead.
func TestExpiredLoginThatCannotBeRenewed(t *testing.T) {
	// Nothing listens on port 443 of 127.0.0.1 here: renewing fails.
	yaml := "network: {hosts: {auth.openai.com: 127.0.0.1}}\n"
	m, eng := newTestManager(t)
	m.Grants = loginGrants{exp: time.Now().Add(-time.Hour)}
	_, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, yaml), Command: []string{"true"}, Grants: []string{"codex"}})
	var expired *LoginExpiredError
	if !errors.As(err, &expired) || expired.Grant != "codex" || expired.Hint() != "Sign in again and store the login anew: 'moat grant codex'." {
		t.Fatalf("got %v, want a LoginExpiredError", err)
	}
	if eng.Builds != 0 || len(eng.Containers) != 0 {
		t.Fatalf("refused late: %d builds, %d containers", eng.Builds, len(eng.Containers))
	}

	m, _ = newTestManager(t)
	m.Grants = loginGrants{exp: time.Now().Add(time.Hour)}
	if _, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, yaml), Command: []string{"true"}, Grants: []string{"codex"}}); err != nil {
		t.Fatalf("a login with an hour left: %v", err)
	}
}
