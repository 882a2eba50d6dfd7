package ring

import "sync/atomic"

// SPSC is a bounded FIFO ring for one producer goroutine and one consumer
// goroutine. Create it with NewSPSC.
type SPSC[T any] struct {
	_ pad

	// Read-only after construction.
	mask  uint64
	slots []T

	_ pad

	// Producer side. tail is the next position to write. cachedHead is the
	// producer's last loaded value of head, never ahead of the real head.
	tail       atomic.Uint64
	cachedHead uint64

	_ pad

	// Consumer side. head is the next position to read. cachedTail is the
	// consumer's last loaded value of tail, never ahead of the real tail.
	head       atomic.Uint64
	cachedTail uint64

	_ pad
}

// NewSPSC returns an empty ring with capacity size, which must be a power
// of two from 2 to MaxSize.
func NewSPSC[T any](size int) (*SPSC[T], error) {
	if err := checkSize("SPSC", size); err != nil {
		return nil, err
	}
	return &SPSC[T]{
		mask:  uint64(size - 1),
		slots: make([]T, size),
	}, nil
}

// Enqueue appends v and reports whether there was room for it.
// Only the producer may call it.
func (r *SPSC[T]) Enqueue(v T) bool {
	tail := r.tail.Load()
	if tail-r.cachedHead > r.mask {
		// The ring looks full, but the consumer may have freed slots
		// since the last load.
		r.cachedHead = r.head.Load()
		if tail-r.cachedHead > r.mask {
			return false
		}
	}
	r.slots[tail&r.mask] = v
	r.tail.Store(tail + 1)
	return true
}

// EnqueueBatch appends the longest prefix of vs that fits and returns its
// length, which is 0 when the ring is full. Only the producer may call it.
func (r *SPSC[T]) EnqueueBatch(vs []T) int {
	tail := r.tail.Load()
	free := r.mask + 1 - (tail - r.cachedHead)
	if free < uint64(len(vs)) {
		r.cachedHead = r.head.Load()
		free = r.mask + 1 - (tail - r.cachedHead)
	}
	n := min(free, uint64(len(vs)))
	if n == 0 {
		return 0
	}

	// The n slots from tail may wrap past the end of the array, so the
	// copy is split in two.
	start := tail & r.mask
	copied := copy(r.slots[start:], vs[:n])
	copy(r.slots, vs[copied:n])

	r.tail.Store(tail + n)
	return int(n)
}

// Dequeue removes and returns the oldest value. It returns the zero value
// and false when the ring is empty. Only the consumer may call it.
func (r *SPSC[T]) Dequeue() (T, bool) {
	head := r.head.Load()
	if head == r.cachedTail {
		// The ring looks empty, but the producer may have added values
		// since the last load.
		r.cachedTail = r.tail.Load()
		if head == r.cachedTail {
			var zero T
			return zero, false
		}
	}
	slot := &r.slots[head&r.mask]
	v := *slot
	var zero T
	*slot = zero
	r.head.Store(head + 1)
	return v, true
}

// DequeueBatch moves up to len(out) of the oldest values into out, oldest
// first, and returns how many it moved, which is 0 when the ring is empty.
// Only the consumer may call it.
func (r *SPSC[T]) DequeueBatch(out []T) int {
	head := r.head.Load()
	ready := r.cachedTail - head
	if ready < uint64(len(out)) {
		r.cachedTail = r.tail.Load()
		ready = r.cachedTail - head
	}
	n := min(ready, uint64(len(out)))
	if n == 0 {
		return 0
	}

	// Copy out in up to two pieces, as in EnqueueBatch, and clear each
	// piece so the ring keeps no references.
	start := head & r.mask
	end := min(start+n, r.mask+1)
	copied := copy(out, r.slots[start:end])
	clear(r.slots[start:end])
	rest := n - uint64(copied)
	copy(out[copied:n], r.slots[:rest])
	clear(r.slots[:rest])

	r.head.Store(head + n)
	return int(n)
}

// Len returns the number of values in the ring. It is exact when no
// operation runs at the same time and otherwise an estimate from 0 to Cap.
func (r *SPSC[T]) Len() int {
	head := r.head.Load()
	return occupancy(head, r.tail.Load(), r.mask+1)
}

// Cap returns the capacity of the ring.
func (r *SPSC[T]) Cap() int {
	return int(r.mask + 1)
}
