package agent

// MCPRunEnv are the variables moat sets for every command of a run so it
// reaches the network through the proxy and trusts its CA (internal/run's
// proxyEnv; docs/egress.md). Claude Code starts a local MCP server with
// its whole environment; Codex passes a server only a few variables, and
// Gemini CLI drops those that look like credentials (the proxy's URL
// holds the run's token, SSL_CERT_FILE has CERT in its name), so their
// renderers name these: a local server reaches the network as any command
// the agent runs does.
var MCPRunEnv = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy",
	"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY",
}
