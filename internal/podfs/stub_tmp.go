// Package podfs copies directory trees in and out of pods (placeholder
// until the real package lands).
package podfs

import "io"

// DefaultMaxBytes bounds an unpack.
const DefaultMaxBytes = 1 << 40

// UnpackOptions tunes Unpack.
type UnpackOptions struct{ Mirror bool }

// Pack writes a tar of dir.
func Pack(w io.Writer, dir string) error { return nil }

// Unpack writes a tar into dir.
func Unpack(r io.Reader, dir string, o UnpackOptions) error { return nil }
