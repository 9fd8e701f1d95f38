package config

import (
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
)

// Kubernetes is config.yaml's kubernetes: section, which selects the
// cluster of the Kubernetes runtime; "" leaves each to the kubeconfig.
type Kubernetes struct {
	// Kubeconfig is the kubeconfig file, absolute or "~/..." (not yet
	// expanded); "" means $KUBECONFIG, else ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; "" means its current context.
	// 'moat run --context' overrides it.
	Context string
	// Namespace is where runs' pods go; "" means the context's namespace,
	// else "default". 'moat run --namespace' overrides it.
	Namespace string
}

var kubernetesFields = []string{"context", "kubeconfig", "namespace"}

// kubernetes decodes config.yaml's kubernetes: section.
func (d *decoder) kubernetes(at ast.Node) (Kubernetes, error) {
	var k Kubernetes
	err := d.section(at, "kubernetes", "{context: my-cluster, namespace: agents}", kubernetesFields, func(key string, v ast.Node) (err error) {
		what := "kubernetes." + key
		switch key {
		case "kubeconfig":
			k.Kubeconfig, err = d.kubeconfigPath(v, what)
		case "context":
			k.Context, err = d.nonEmpty(v, what, "Name a context of your kubeconfig ('kubectl config get-contexts'), or remove the setting.")
		case "namespace":
			k.Namespace, err = d.namespace(v, what)
		}
		return err
	})
	if err != nil {
		return Kubernetes{}, err
	}
	return k, nil
}

func (d *decoder) nonEmpty(at ast.Node, what, hint string) (string, error) {
	s, err := d.str(at, what)
	if err == nil && s == "" {
		err = d.errorf(at, hint, "%s: empty", what)
	}
	return s, err
}

// kubeconfigPath takes an absolute path or one under "~/": a relative
// path would depend on the directory moat runs in.
func (d *decoder) kubeconfigPath(at ast.Node, what string) (string, error) {
	s, err := d.nonEmpty(at, what, `Write the kubeconfig's path, e.g. "~/.kube/config", or remove the setting to use $KUBECONFIG.`)
	if err == nil && !filepath.IsAbs(s) && !strings.HasPrefix(s, "~/") {
		err = d.errorf(at, `Write an absolute path or one starting with "~/" (your home directory).`,
			"%s: %q is a relative path", what, s)
	}
	return s, err
}

// NamespaceValid reports whether s can name a Kubernetes namespace (a DNS
// label: lower-case letters, digits and '-', at most 63).
func NamespaceValid(s string) bool { return len(s) <= 63 && dnsLabelPattern().MatchString(s) }

var dnsLabelPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`) })

func (d *decoder) namespace(at ast.Node, what string) (string, error) {
	s, err := d.str(at, what)
	if err == nil && !NamespaceValid(s) {
		err = d.errorf(at, `Write a namespace's name: lower-case letters, digits and '-', at most 63, e.g. "agents".`,
			"%s: %q is not a namespace name", what, s)
	}
	return s, err
}

// pushRegistry takes where images for a cluster go: HOST[:PORT][/PATH],
// as Docker writes a repository's prefix. moat adds the repository's
// name and tag, so a scheme, a tag or a digest is an error; and the
// first part must be a registry host (a '.', a port or localhost), or
// Docker would read it as a Docker Hub account.
func (d *decoder) pushRegistry(at ast.Node, what string) (string, error) {
	s, err := d.str(at, what)
	if err != nil {
		return "", err
	}
	const example = `Write a registry host with an optional port and path, e.g. "registry.example.com:5000/moat".`
	host, path, _ := strings.Cut(s, "/")
	switch {
	case strings.Contains(s, "://"):
		return "", d.errorf(at, example+" Docker picks https (or http for a registry it is told is insecure).",
			"%s: %q has a scheme", what, s)
	case strings.Contains(s, "@") || strings.Contains(path, ":"):
		return "", d.errorf(at, example+" moat tags each image with its content hash itself.",
			"%s: %q names a tag or digest", what, s)
	case !registryPattern().MatchString(host) || (path != "" && !repoPathPattern().MatchString(path)):
		return "", d.errorf(at, example, "%s: %q is not a registry address", what, s)
	case !strings.ContainsAny(host, ".:") && host != "localhost":
		return "", d.errorf(at, example+" For Docker Hub write \"docker.io/ACCOUNT\".",
			"%s: %q does not start with a registry host, so Docker would read it as a Docker Hub account", what, s)
	}
	return s, nil
}

var repoPathPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+([._-]{1,2}[a-z0-9]+)*(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$`)
})
