//go:build pmddebug

package pmd

import "fmt"

// debugPlaces reports whether frame moves are checked.
const debugPlaces = true

// move records a frame's new place and panics when the frame was not
// where the caller expected it: a frame used twice, one that leaked from
// another place, or one that came back on another socket's ring.
func (u *Umem) move(addr uint64, from uint32, to uint32) {
	i := u.index(addr)
	if i >= u.frames {
		panic(fmt.Sprintf("pmd: frame address %#x outside the UMEM", addr))
	}
	if got := u.place[i]; got != from {
		panic(fmt.Sprintf("pmd: frame %d at %#x is in %s, expected %s", i, addr, placeString(got), placeString(from)))
	}
	if from == placeFree {
		// The frame was just popped from the free stack; it must not
		// also be further down the stack.
		for _, f := range u.free {
			if f>>u.frameShift == uint64(i) {
				panic(fmt.Sprintf("pmd: frame %d is on the free stack twice", i))
			}
		}
	}
	u.place[i] = to
}

func placeString(p uint32) string {
	s := p & socketMask
	switch p >> placeShift {
	case placeFree:
		return "the free stack"
	case placeHeld:
		return "the worker's hands"
	case placeKernRx:
		return fmt.Sprintf("the fill or RX ring of socket %d", s)
	case placeKernTx:
		return fmt.Sprintf("the TX or completion ring of socket %d", s)
	}
	return fmt.Sprintf("unknown place %#x", p)
}
