package grant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/sshgrant"
)

// SSHFlags are the flags of 'moat grant ssh' besides --host.
type SSHFlags struct {
	KeyFile    string   // --key
	AgentKey   string   // --agent-key: a SHA256 fingerprint
	KnownHosts string   // --known-hosts; "" is ~/.ssh/known_hosts
	HostKeys   []string // --host-key "HOST TYPE BASE64"
}

func newCmdSSH(f *cmdutil.Factory, k grant.KindSpec, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   string(k.Kind) + " <name> --host HOST [--key FILE | --agent-key SHA256:FP]",
		Short: "Store an SSH key that signs only for the hosts you name",
		Long: `Store an SSH key as the grant <name>, for the hosts given with --host, as
'ssh' takes them: github.com, or git.example.com:2222 for another port.

The key is a private key file (--key), stored decrypted and sealed like
every grant's secret (an encrypted key's passphrase is asked for once, on
the terminal), or a key your running ssh-agent holds (--agent-key, with
its fingerprint as 'ssh-add -l' prints it): the key stays in the agent and
the grant holds only its public key.

Each host's host keys are pinned in the grant now: those ~/.ssh/known_hosts
(or --known-hosts FILE) lists for it, hashed entries included, and any given
with --host-key. A host with none is refused.

A run that names the grant (grants: [NAME] in agent.yaml, or --grant NAME)
gets an SSH agent that signs with the key only for sessions to these hosts
through the run's proxy; the key never enters the run. The run's image
needs the ssh client (dependencies: [git, ssh]).`,
		Example: `  # A key file, for github.com only
  $ moat grant ssh github-ssh --host github.com --key ~/.ssh/id_ed25519

  # A key your ssh-agent keeps: find its fingerprint, then grant it
  $ ssh-add -l
  $ moat grant ssh deploy --host git.example.com:2222 --agent-key SHA256:...

  # A host not in known_hosts: pin its key, after checking its fingerprint
  $ moat grant ssh deploy --host git.example.com --key deploy_key \
      --host-key "$(ssh-keyscan -t ed25519 git.example.com)"`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Grant.Name, opts.Grant.Kind = args[0], k.Kind
			if len(opts.Grant.Hosts) == 0 {
				return cmdutil.FlagErrorf("--host is required: name the hosts the key may sign for (repeat --host for each)")
			}
			if opts.SSH.KeyFile != "" && opts.SSH.AgentKey != "" {
				return cmdutil.FlagErrorf("--key and --agent-key cannot be used together")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sshRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Grant.Hosts, "host", nil, "Let the key sign for `HOST` or HOST:PORT (repeatable)")
	fl.StringVar(&opts.SSH.KeyFile, "key", "", "Store the private key in `FILE`")
	fl.StringVar(&opts.SSH.AgentKey, "agent-key", "", "Use the key your ssh-agent holds with this `FINGERPRINT` (SHA256:...)")
	fl.StringVar(&opts.SSH.KnownHosts, "known-hosts", "", "Take host keys from `FILE` (default ~/.ssh/known_hosts)")
	fl.StringArrayVar(&opts.SSH.HostKeys, "host-key", nil, "Pin a host key: `'HOST TYPE BASE64'` (repeatable)")
	return cmd
}

// sshRun stores an ssh grant: the hosts and their keys are checked before
// any key is read, so a mistake there costs no passphrase.
func sshRun(ctx context.Context, o *Options) error {
	name := o.Grant.Name
	if err := grant.ValidateSSHName(name); err != nil {
		return err
	}
	hostKeys, err := o.sshHostKeys()
	if err != nil {
		return err
	}
	store, err := o.Grants()
	if err != nil {
		return err
	}
	pub, source, secret, err := o.sshKey(ctx)
	if err != nil {
		return err
	}
	g := grant.Grant{Name: name, Kind: grant.SSH, SSH: &grant.SSHKey{Source: source,
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), Hosts: hostKeys}}
	if g, err = g.Normalize(); err != nil {
		return err
	}
	existed := exists(store, name)
	if err := store.Put(g, secret); err != nil {
		return err
	}
	o.sshGranted(store, g, existed)
	return nil
}

func (o *Options) sshGranted(store *grant.Store, g grant.Grant, replaced bool) {
	w := o.IO.ErrOut
	if replaced {
		fmt.Fprintf(w, "Replaced grant %s\n", g.Name)
	}
	where := "sealed in the grant"
	if g.SSH.Source == grant.SSHFromAgent {
		where = "kept by your ssh-agent"
	}
	fmt.Fprintf(w, "Granted %s: SSH key %s (%s) for %s\n", g.Name, g.SSH.Fingerprint, where, strings.Join(g.Hosts, ", "))
	for _, h := range g.SSH.Hosts {
		var fps []string
		for _, k := range h.Keys {
			typ, _, _ := strings.Cut(k, " ")
			fps = append(fps, grant.SSHFingerprint(k)+" ("+typ+")")
		}
		fmt.Fprintf(w, "Pinned host keys of %s: %s\n", h.Name, strings.Join(fps, ", "))
	}
	fmt.Fprintf(w, "Use it in a run with 'grants: [%s]' in agent.yaml (and ssh in its dependencies), or --grant %[1]s\n", g.Name)
	keyNote(w, store.KeySource())
}

// sshHostKeys normalizes --host and returns each host's keys.
func (o *Options) sshHostKeys() ([]grant.SSHHost, error) {
	var hosts []string
	for _, h := range o.Grant.Hosts {
		n, err := grant.NormalizeSSHHost(h)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, n)
	}
	var pins []sshgrant.Pin
	for _, text := range o.SSH.HostKeys {
		p, err := sshgrant.ParsePin(text)
		if err != nil {
			return nil, err
		}
		pins = append(pins, p)
	}
	path, named := o.SSH.KnownHosts, o.SSH.KnownHosts != ""
	if !named {
		home := o.Getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		path = filepath.Join(home, ".ssh", "known_hosts")
	}
	return sshgrant.HostKeys(hosts, path, named, pins)
}

// sshKey returns the grant's public key, where the private key is, and
// the secret to seal: the decrypted key from --key, or nothing for a key
// the ssh-agent keeps.
func (o *Options) sshKey(ctx context.Context) (ssh.PublicKey, grant.SSHSource, grant.Secret, error) {
	if path := o.SSH.KeyFile; path != "" {
		data, err := sshgrant.ReadKeyFile(path)
		if err != nil {
			return nil, "", grant.Secret{}, err
		}
		defer clear(data)
		pub, secret, err := sshgrant.ParseKey(path, data, o.passphrase(ctx, path))
		return pub, grant.SSHFromFile, secret, err
	}
	upstream, conn, err := sshgrant.DialAgent(o.Getenv("SSH_AUTH_SOCK"))
	if err != nil && o.SSH.AgentKey != "" {
		return nil, "", grant.Secret{}, err
	}
	if conn != nil {
		defer conn.Close()
	}
	if o.SSH.AgentKey == "" {
		return nil, "", grant.Secret{}, noSSHKey(upstream)
	}
	pub, err := sshgrant.AgentKey(upstream, o.SSH.AgentKey)
	return pub, grant.SSHFromAgent, grant.Secret{}, err
}

// passphrase asks for path's passphrase on the terminal, or is nil when
// stdin is not one: an encrypted key is then refused, saying what to do.
func (o *Options) passphrase(ctx context.Context, path string) func() ([]byte, error) {
	if !o.IO.IsStdinTTY() {
		return nil
	}
	return func() ([]byte, error) {
		fmt.Fprintf(o.IO.ErrOut, "Passphrase for %s (it is not shown): ", path)
		b, err := o.Prompt(ctx, o.IO.InFd())
		fmt.Fprintln(o.IO.ErrOut)
		return b, err
	}
}

// noSSHKey says that neither --key nor --agent-key was given. The
// agent's keys are listed, never chosen: even a single key there may not
// be the one meant for these hosts. upstream is nil when no agent answers.
func noSSHKey(upstream agent.ExtendedAgent) error {
	err := errors.New("no key given: pass --key FILE, or --agent-key FINGERPRINT for a key your ssh-agent holds")
	if upstream == nil {
		return cmdutil.WithHint(err, "No ssh-agent is reachable (SSH_AUTH_SOCK). Give the private key file with --key FILE.")
	}
	keys, lerr := sshgrant.AgentKeys(upstream)
	if lerr != nil || len(keys) == 0 {
		return cmdutil.WithHint(err, "Your ssh-agent holds no key. Give the private key file with --key FILE, or add it to the agent ('ssh-add FILE') first.")
	}
	fp, _, _ := strings.Cut(keys[0], " ")
	return cmdutil.WithHint(err, fmt.Sprintf("Your ssh-agent holds:\n  %s\nChoose one, as in --agent-key %s, or give a key file with --key FILE.",
		strings.Join(keys, "\n  "), fp))
}
