package config

import "testing"

func TestParseMount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    string
		want    Mount
		wantErr string
	}{
		{spec: "./cache:/cache", want: Mount{Source: "./cache", Target: "/cache"}},
		{spec: "./cache:/cache:ro", want: Mount{Source: "./cache", Target: "/cache", ReadOnly: true}},
		{spec: "./cache:/cache:rw", want: Mount{Source: "./cache", Target: "/cache"}},
		{spec: "cache:/cache/", want: Mount{Source: "cache", Target: "/cache"}},
		{spec: "/abs/src:/a/./b/../c", want: Mount{Source: "/abs/src", Target: "/a/c"}},
		{spec: "~/:/home", want: Mount{Source: "~/", Target: "/home"}},
		{spec: "~/.ssh:/root/.ssh:ro", want: Mount{Source: "~/.ssh", Target: "/root/.ssh", ReadOnly: true}},
		{spec: "../sibling:/sibling", want: Mount{Source: "../sibling", Target: "/sibling"}},
		{spec: "./node_modules:/workspace/node_modules", want: Mount{Source: "./node_modules", Target: "/workspace/node_modules"}},

		{spec: "", wantErr: `invalid mount "": expected SOURCE:TARGET[:ro|rw]`},
		{spec: "./a", wantErr: `invalid mount "./a": expected SOURCE:TARGET[:ro|rw]`},
		{spec: "c:/a:/b:ro", wantErr: `invalid mount "c:/a:/b:ro": expected SOURCE:TARGET[:ro|rw]`},
		{spec: "./a:/b:", wantErr: `invalid mount "./a:/b:": mode "" must be "ro" or "rw"`},
		{spec: "./a:/b:RO", wantErr: `invalid mount "./a:/b:RO": mode "RO" must be "ro" or "rw"`},
		{spec: "./a:/b:z", wantErr: `invalid mount "./a:/b:z": mode "z" must be "ro" or "rw"`},
		{spec: ":/b", wantErr: `invalid mount ":/b": the source is empty`},
		{spec: "~bob/x:/b", wantErr: `invalid mount "~bob/x:/b": source "~bob/x": only a leading "~/" is expanded`},
		{spec: "~:/b", wantErr: `invalid mount "~:/b": source "~": only a leading "~/" is expanded`},
		{spec: "a\x00:/b", wantErr: `invalid mount "a\x00:/b": the source contains a NUL byte`},
		{spec: "./a:", wantErr: `invalid mount "./a:": the target is empty`},
		{spec: "./a:b/c", wantErr: `invalid mount "./a:b/c": target "b/c" must be an absolute path`},
		{spec: "./a:/b\x00", wantErr: `invalid mount "./a:/b\x00": the target contains a NUL byte`},
		{spec: "./a:/", wantErr: `invalid mount "./a:/": the target cannot be "/"`},
		{spec: "./a:/x/..", wantErr: `invalid mount "./a:/x/..": the target cannot be "/"`},
		{spec: "./a:/workspace", wantErr: `invalid mount "./a:/workspace": the target cannot be /workspace: the workspace is mounted there`},
		{spec: "./a:/workspace/x/..", wantErr: `invalid mount "./a:/workspace/x/..": the target cannot be /workspace: the workspace is mounted there`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMount(tt.spec)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %+v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if again, err := ParseMount(got.String()); err != nil || again != got {
				t.Fatalf("round trip of %q: got %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestMountString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Mount
		want string
	}{
		{Mount{Source: "./a", Target: "/a"}, "./a:/a"},
		{Mount{Source: "./a", Target: "/a", ReadOnly: true}, "./a:/a:ro"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
