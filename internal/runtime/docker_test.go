package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

func TestDecodeBuildStream(t *testing.T) {
	tests := []struct {
		name     string
		stream   string
		wantMsgs int
		wantErr  string
	}{
		{name: "success", stream: `{"stream":"Step 1/2 : FROM x\n"}{"stream":" ---> abc\n"}{"aux":{"ID":"sha256:1"}}`, wantMsgs: 3},
		{name: "error message ends the build", stream: `{"stream":"Step 1/1 : RUN false\n"}{"errorDetail":{"message":"returned a non-zero code: 1"},"error":"returned a non-zero code: 1"}{"stream":"never read"}`,
			wantMsgs: 2, wantErr: "returned a non-zero code: 1"},
		{name: "error detail only", stream: `{"errorDetail":{"message":"no space left"}}`, wantMsgs: 1, wantErr: "no space left"},
		{name: "truncated stream", stream: `{"stream":"Step 1`, wantErr: "reading the build stream: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			err := decodeBuildStream(strings.NewReader(tt.stream), func(BuildMessage) { n++ })
			if (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr == "" || tt.wantMsgs > 0 {
				if n != tt.wantMsgs {
					t.Fatalf("got %d messages, want %d", n, tt.wantMsgs)
				}
			}
		})
	}
}

func TestMapErr(t *testing.T) {
	if err := mapErr(fmt.Errorf("wrapped: %w", errdefs.ErrNotFound)); !errors.Is(err, ErrNotFound) {
		t.Errorf("not-found: got %v", err)
	}
	if err := mapErr(fmt.Errorf("wrapped: %w", errdefs.ErrConflict)); !errors.Is(err, ErrConflict) {
		t.Errorf("conflict: got %v", err)
	}
	plain := errors.New("other")
	if err := mapErr(plain); err != plain {
		t.Errorf("other errors must pass unchanged: got %v", err)
	}
	if mapErr(nil) != nil {
		t.Error("nil must stay nil")
	}
}

func TestResources(t *testing.T) {
	pids := int64(128)
	for _, tc := range []struct {
		spec ContainerSpec
		want container.Resources
	}{
		{ContainerSpec{}, container.Resources{}},
		{ContainerSpec{Memory: 1 << 30, NanoCPUs: 5e8, PidsLimit: 128},
			container.Resources{Memory: 1 << 30, MemorySwap: 1 << 30, NanoCPUs: 5e8, PidsLimit: &pids}},
	} {
		if got := resources(tc.spec); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("resources(%+v): got %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}
