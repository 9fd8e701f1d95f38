// Package kube is moat's cluster runtime: it maps the orchestrator's
// engine-neutral container specs (internal/runtime) to Kubernetes pods,
// each with moat's setup and keeper containers, per-run NetworkPolicies
// and Secrets, and copies the run's directories in and out (see
// docs/kubernetes.md). Images are built by a local engine and pushed to the
// registry the cluster pulls from.
package kube
