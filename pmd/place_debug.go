//go:build pmddebug

package pmd

import "fmt"

// move records a frame's new place and panics when the frame was not
// where the caller expected it: a frame used twice or one that leaked
// from another place.
func (u *Umem) move(addr uint64, from uint32, to uint32) {
	i := u.index(addr)
	if i >= u.frames {
		panic(fmt.Sprintf("pmd: frame address %#x outside the UMEM", addr))
	}
	if got := u.place[i] >> placeShift; got != from {
		panic(fmt.Sprintf("pmd: frame %d at %#x is in place %d, expected %d", i, addr, got, from))
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
