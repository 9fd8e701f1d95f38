// Package archtest owns the tests that keep moat's architecture honest:
// dependencies point one way (CLI -> orchestrator -> engines), and every
// package says in one doc comment what it owns.
package archtest
