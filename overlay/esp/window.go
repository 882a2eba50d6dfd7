package esp

// window is the anti-replay window of one inbound SA: a ring of bits for
// the WindowSize sequence numbers up to top, one bit per number, as in RFC
// 6479. Moving the window forward clears whole 64-bit words, so its cost
// does not depend on how far it moves.
type window struct {
	// top is the highest sequence number accepted. 0 means none yet,
	// since sequence numbers start at 1.
	top  uint64
	bits [windowWords]uint64
}

// accept records seq and reports whether it was new: above top, or
// inside the window and not yet seen.
func (w *window) accept(seq uint64) bool {
	if seq > w.top {
		cur, next := w.top/64, seq/64
		words := next - cur
		if words > windowWords {
			words = windowWords
		}
		for i := uint64(1); i <= words; i++ {
			w.bits[(cur+i)%windowWords] = 0
		}
		w.top = seq
	} else if w.top-seq >= WindowSize {
		return false
	}
	i, bit := (seq/64)%windowWords, uint64(1)<<(seq%64)
	if w.bits[i]&bit != 0 {
		return false
	}
	w.bits[i] |= bit
	return true
}

// resetTo marks every sequence number up to floor as seen, for an SA whose
// window was forgotten but whose highest accepted number was kept.
func (w *window) resetTo(floor uint64) {
	w.top = floor
	for i := range w.bits {
		w.bits[i] = ^uint64(0)
	}
	// In floor's own word only the bits up to floor are seen, because the
	// rest of that word belongs to numbers above it.
	w.bits[(floor/64)%windowWords] = ^uint64(0) >> (63 - floor%64)
}
