//go:build race

package chattest

// raceEnabled is whether this test binary was built with -race: ServerBinary
// builds the server the same way.
const raceEnabled = true
