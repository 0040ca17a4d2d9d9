//go:build !race

package chattest

// RaceEnabled is whether this test binary was built with -race: ServerBinary
// builds the server the same way, and tests that measure memory allow for it.
const RaceEnabled = false
