//go:build moattest

package run

import "os"

// dindTestArgs passes extra daemon flags from moat's environment, so an
// end-to-end test can break the nested daemon on purpose. Only binaries
// built with the moattest tag (e2e/ builds one) read the variable.
func dindTestArgs() string { return os.Getenv("MOAT_TEST_DIND_ARGS") }
