//go:build !pmddebug

package pmd

// debugPlaces reports whether frame moves are checked.
const debugPlaces = false

// move records a frame's new place. Builds with the pmddebug tag also
// check that the frame was where the caller expected it, on the ring of
// the expected socket.
func (u *Umem) move(addr uint64, from uint32, to uint32) {
	u.place[u.index(addr)] = to
	_ = from
}
