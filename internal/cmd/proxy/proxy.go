// Package proxy implements the hidden 'moat proxy serve', the process that
// runs inside each run's proxy sidecar container, 'moat proxy relay', the
// agent's end of it, and 'moat proxy connect', ssh's way through it. Users
// never call them: the orchestrator starts the proxy and writes its
// configuration, secrets included, to its stdin, and the run's ssh
// configuration names 'proxy connect'. They are built into moat-sidecar
// too (see internal/cmd/sidecar), so nothing here may reach an engine.
package proxy

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/egress"
)

// NewCmdProxy builds the hidden 'proxy' command group.
func NewCmdProxy() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "proxy",
		Short:  "Internal: a run's egress proxy",
		Hidden: true,
	}
	cmd.AddCommand(newCmdRelay(), newCmdConnect(), &cobra.Command{
		Use:   "serve",
		Short: "Serve a run's egress proxy with the configuration read from stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), cmd.InOrStdin(), cmd.ErrOrStderr(), cmd.OutOrStdout())
		},
	})
	return cmd
}

func serve(ctx context.Context, in io.Reader, errOut, out io.Writer) error {
	cfg, err := egress.ReadConfig(in)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logf := func(format string, args ...any) {
		fmt.Fprintf(errOut, "%s %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
	}
	if cfg.Log != "" {
		lf, err := egress.OpenLog(cfg.Log, egress.MaxLogBytes, nil)
		if err != nil {
			return err
		}
		defer lf.Close()
		logf = lf.Printf
	}
	// x/crypto's SSH agent server reports each request it fails on the
	// standard logger: into the proxy's own bounded log, not the
	// container's output, which nothing bounds (the audit log has each
	// refusal and its reason).
	log.SetFlags(0)
	log.SetOutput(logfWriter(logf))
	if addr := os.Getenv(egress.ListenEnv); addr != "" { // a pod of its own: the relay forwards to it
		return egress.ServeTCP(ctx, cfg, addr, out, logf)
	}
	return egress.Serve(ctx, cfg, out, logf)
}

// logfWriter writes each line given to it through logf.
type logfWriter func(string, ...any)

func (f logfWriter) Write(p []byte) (int, error) {
	f("moat proxy: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
