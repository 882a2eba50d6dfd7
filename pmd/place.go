//go:build !pmddebug

package pmd

// move records a frame's new place. Builds with the pmddebug tag also
// check that the frame was where the caller expected it.
func (u *Umem) move(addr uint64, from uint32, to uint32) {
	u.place[u.index(addr)] = to
	_ = from
}
