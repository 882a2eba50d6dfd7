package ring

import (
	"errors"
	"fmt"
)

// MaxSize is the largest capacity a ring accepts. It only rejects absurd
// requests. The constructors allocate the whole slot array at once (capacity
// times slot size bytes), so memory can run out well below it.
const MaxSize = 1 << 30

// ErrInvalidSize is returned, wrapped, by the constructors for a size that is
// not a power of two from 2 to MaxSize.
var ErrInvalidSize = errors.New("invalid ring size")

// blockSize is the distance in bytes kept between fields written by different
// sides of a ring. It spans two 64-byte cache lines, because the
// adjacent-line prefetcher moves lines in 128-byte aligned pairs (see the
// package documentation).
const blockSize = 128

// pad separates groups of fields into different 128-byte blocks. Placed
// between two groups that are each smaller than blockSize, it keeps any two
// fields of different groups at least blockSize bytes apart.
type pad [blockSize]byte

// checkSize returns an error naming size unless it is a valid ring capacity.
func checkSize(kind string, size int) error {
	if size < 2 || size > MaxSize || size&(size-1) != 0 {
		return fmt.Errorf("create %s ring of size %d: %w (use a power of two from 2 to %d)",
			kind, size, ErrInvalidSize, MaxSize)
	}
	return nil
}

// occupancy returns tail-head clamped to [0, size]. Callers load head before
// tail. Both only grow and tail never falls behind head, so the difference
// cannot be negative, but it can exceed size when both moved between the two
// loads.
func occupancy(head, tail, size uint64) int {
	n := tail - head
	if n > size {
		// Either tail ran ahead while head was being loaded, or (in
		// MPSC, whose consumer frees slots before advancing head) the
		// producers refilled freed slots first. Neither is a real
		// overfill.
		n = size
	}
	return int(n)
}
