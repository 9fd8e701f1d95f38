package testutil

import (
	cryptorand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// SeedEnv names the variable that fixes the seed of randomised tests.
const SeedEnv = "MOAT_TEST_SEED"

// Rand returns the generator of a randomised test: seeded from
// MOAT_TEST_SEED when it is set, else from a fresh random seed. The seed is
// logged (go test prints it with a failure), so any failure repeats with
// MOAT_TEST_SEED=<seed> go test -run <test>.
func Rand(t testing.TB) *rand.Rand {
	t.Helper()
	var seed uint64
	if s, ok := os.LookupEnv(SeedEnv); ok {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("invalid %s %q: want an unsigned decimal integer", SeedEnv, s)
		}
		seed = v
	} else {
		var b [8]byte
		cryptorand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	t.Logf("random seed %d (repeat with %s=%d)", seed, SeedEnv, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
