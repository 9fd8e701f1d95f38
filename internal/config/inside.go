package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/moatsh/moat/internal/plural"
)

// ReadInside reads the regular file name inside dir. Links are followed
// only while they stay inside dir, a FIFO or device is refused without
// being opened for long (the open does not block), and more than max bytes
// is an error: the workspace is the agent's, so every file moat reads from
// it may be hostile.
func ReadInside(dir, name string, max int64) ([]byte, error) {
	if dir == "" {
		dir = "."
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, insideError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fileType(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Max: max}
	}
	return data, nil
}

// TooLargeError reports a file over ReadInside's limit.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	if e.Max%(1<<20) == 0 {
		return fmt.Sprintf("the file is larger than %d MiB", e.Max>>20)
	}
	return "the file is larger than " + plural.Count(e.Max, "byte")
}

// insideError words os.Root's refusal of a path that leaves its directory.
func insideError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return errors.New("it leads outside the workspace (through a link or '..')")
	}
	return err
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}
