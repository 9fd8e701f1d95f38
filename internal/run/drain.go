package run

import "time"

// outputDrain bounds how long moat waits for a finished command's last
// output: the engine closes the stream right after exit, so this only
// matters when the stream is stuck.
const outputDrain = 2 * time.Second

func afterDrain() <-chan time.Time { return time.After(outputDrain) }
