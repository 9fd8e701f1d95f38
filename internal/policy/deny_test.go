package policy

import "testing"

func TestDecisionText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d            Decision
		header, body string
	}{
		{
			Decision{Allowed: true, Rule: `network.allow "a.com"`},
			"", "",
		},
		{
			Decision{Rule: `"evil.com" is not in network.allow (network.policy "strict")`, Hint: `add "evil.com" to network.allow in agent.yaml`},
			`"evil.com" is not in network.allow (network.policy "strict")`,
			"moat blocked this request: \"evil.com\" is not in network.allow (network.policy \"strict\")\n" +
				"To allow it, add \"evil.com\" to network.allow in agent.yaml.\n",
		},
		{
			Decision{Rule: "request has no host"},
			"request has no host",
			"moat blocked this request: request has no host\n",
		},
		{
			Decision{Rule: "bad\r\nX-Injected: 1\x7fé"},
			"bad??X-Injected: 1??",
			"moat blocked this request: bad\r\nX-Injected: 1\x7fé\n",
		},
	}
	for _, tt := range tests {
		if got := tt.d.Header(); got != tt.header {
			t.Errorf("Header() = %q, want %q", got, tt.header)
		}
		if got := tt.d.Body(); got != tt.body {
			t.Errorf("Body() = %q, want %q", got, tt.body)
		}
	}
}

func TestDenyFromCheck(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Permissive, nil, nil)
	d := p.CheckHost("169.254.169.254", 80)
	wantHeader := "169.254.169.254 is the cloud metadata address"
	// No remedy: a denial the agent provokes must not offer the user a
	// line that opens the metadata service (or any private address).
	wantBody := "moat blocked this request: 169.254.169.254 is the cloud metadata address\n"
	if d.Header() != wantHeader || d.Body() != wantBody {
		t.Fatalf("got header %q body %q, want %q %q", d.Header(), d.Body(), wantHeader, wantBody)
	}
	if DenyStatus != 403 || HeaderName != "X-Moat-Blocked" {
		t.Fatalf("deny response constants changed: %d %s", DenyStatus, HeaderName)
	}
}
