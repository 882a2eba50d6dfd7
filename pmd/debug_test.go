package pmd

import (
	"strings"
	"testing"
)

// mustPanic runs fn and fails the test unless it panics with a message
// containing want.
func mustPanic(t *testing.T, what, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if r == nil || !strings.Contains(msg, want) {
			t.Errorf("%s: panic %v, want a panic containing %q", what, r, want)
		}
	}()
	fn()
}

// TestDebugChecksMoves runs only in builds with the pmddebug tag:
//
//	go test -tags pmddebug ./pmd
func TestDebugChecksMoves(t *testing.T) {
	if !debugPlaces {
		t.Skip("frame moves are checked only with -tags pmddebug")
	}
	u, err := NewUmem(UmemConfig{Frames: 64, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })

	addr, _ := u.Alloc()
	u.Release(addr)
	mustPanic(t, "double release", "is in the free stack, expected the worker's hands", func() { u.Release(addr) })

	base, _ := u.takeForRx(1)
	mustPanic(t, "frame received on another socket", "expected the fill or RX ring of socket 2", func() { u.received(base, 2) })
	u.received(base, 1)
	u.submitted(base, 3)
	mustPanic(t, "completion on another socket", "expected the TX or completion ring of socket 4", func() { u.completed(base, 4) })
	u.completed(base, 3)
	mustPanic(t, "submit of a free frame", "expected the worker's hands", func() { u.submitted(base, 3) })
	mustPanic(t, "address outside the UMEM", "outside the UMEM", func() { u.Release(64 * 2048) })
}
