package cmdutil

import (
	"context"
	"slices"
	"strings"

	"github.com/moatsh/moat/internal/config"
)

// RuntimeChoice is the container runtime a command's flags ask for ('moat
// run --runtime, --context, --namespace'); "" leaves each to config.yaml,
// then to the kubeconfig.
type RuntimeChoice struct {
	Runtime   string // config.RuntimeDocker or config.RuntimeKubernetes
	Context   string // the kubeconfig context
	Namespace string
}

// Check reports a usage error in the flags alone. That --context or
// --namespace needs the Kubernetes runtime when --runtime is not given
// depends on config.yaml, which CheckResolved sees.
func (c RuntimeChoice) Check() error {
	if c.Runtime != "" && !slices.Contains(config.Runtimes, c.Runtime) {
		return FlagErrorf("invalid --runtime %q: use one of %s", c.Runtime, strings.Join(config.Runtimes, ", "))
	}
	if c.Namespace != "" && !config.NamespaceValid(c.Namespace) {
		return FlagErrorf("invalid --namespace %q: a namespace is lower-case letters, digits and '-', at most 63", c.Namespace)
	}
	return c.CheckResolved(c.Runtime)
}

// CheckResolved refuses --context and --namespace when the runtime the
// run uses (the flag's, else config.yaml's, else Docker) is not
// Kubernetes.
func (c RuntimeChoice) CheckResolved(runtime string) error {
	if runtime == config.RuntimeKubernetes || runtime == "" || c.Context == "" && c.Namespace == "" {
		return nil
	}
	return FlagErrorf("--context and --namespace select a Kubernetes cluster, and this run uses the %s runtime; add --runtime kubernetes", runtime)
}

type runtimeChoiceKey struct{}

// WithRuntime returns ctx carrying the command's runtime choice: the
// Factory's Manager reads it when it first connects to an engine.
func WithRuntime(ctx context.Context, c RuntimeChoice) context.Context {
	return context.WithValue(ctx, runtimeChoiceKey{}, c)
}

// RuntimeFrom returns the choice WithRuntime put in ctx; none is the zero
// RuntimeChoice.
func RuntimeFrom(ctx context.Context) RuntimeChoice {
	c, _ := ctx.Value(runtimeChoiceKey{}).(RuntimeChoice)
	return c
}
