package image

import (
	"strings"
	"testing"
)

func TestInitFunction(t *testing.T) {
	fn := InitFunction("check_command")
	if !strings.HasPrefix(fn, "check_command() {\n") || !strings.HasSuffix(fn, "\n}\n") || strings.Count(fn, "\n}\n") != 1 {
		t.Fatalf("InitFunction(check_command) = %q, want the one function", fn)
	}
	defer func() {
		if recover() == nil {
			t.Error("InitFunction of a missing function did not panic")
		}
	}()
	InitFunction("no_such_function")
}
