// Command directcli is the benchmarks' floor for a CLI: it reads a
// runtime.ContainerSpec as JSON on stdin and creates, starts, waits for and
// removes that container through moat's engine adapter, and nothing else.
// BenchmarkWarmRun times it beside 'moat run', so that what a process start
// and the Engine client cost on the machine is measured, not assumed.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moatsh/moat/internal/runtime"
)

func main() {
	code, err := run(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "directcli: %v\n", err)
		os.Exit(125)
	}
	os.Exit(code)
}

func run(ctx context.Context) (int, error) {
	var spec runtime.ContainerSpec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		return 0, fmt.Errorf("reading the container spec: %w", err)
	}
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		return 0, err
	}
	defer eng.Close()
	id, err := eng.CreateContainer(ctx, spec)
	if err != nil {
		return 0, err
	}
	defer eng.RemoveContainer(ctx, id)
	if err := eng.StartContainer(ctx, id); err != nil {
		return 0, err
	}
	return eng.WaitContainer(ctx, id)
}
