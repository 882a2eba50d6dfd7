package ring

import "sync/atomic"

// sequencedSlot is one element of a sequencedRing. For the slot at index i
// and k = 0, 1, 2, ..., sequence is i+k*capacity while the slot is free for
// the producer of position i+k*capacity, and i+k*capacity+1 while it holds
// that position's value for a consumer.
type sequencedSlot[T any] struct {
	sequence atomic.Uint64
	value    T
}

// sequencedRing is a bounded ring whose slots carry sequence numbers (see
// the package documentation), the shared core of MPSC and MPMC. Producers
// always claim positions with a compare-and-swap. Consumers use the
// Exclusive methods when there is only one of them and the Shared methods
// otherwise.
type sequencedRing[T any] struct {
	_ pad

	// Read-only after init.
	mask  uint64
	slots []sequencedSlot[T]

	_ pad

	// tail is the next position for a producer to claim.
	tail atomic.Uint64

	_ pad

	// head is the next position for a consumer to claim.
	head atomic.Uint64

	_ pad
}

func (q *sequencedRing[T]) init(size int) {
	q.mask = uint64(size - 1)
	q.slots = make([]sequencedSlot[T], size)
	for i := range q.slots {
		q.slots[i].sequence.Store(uint64(i))
	}
}

func (q *sequencedRing[T]) enqueue(v T) bool {
	pos := q.tail.Load()
	for {
		slot := &q.slots[pos&q.mask]
		lag := int64(slot.sequence.Load() - pos)
		switch {
		case lag == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				slot.value = v
				slot.sequence.Store(pos + 1)
				return true
			}
			pos = q.tail.Load()
		case lag < 0:
			// The slot still holds the value from the previous lap.
			return false
		default:
			// Another producer claimed pos after this call loaded tail.
			pos = q.tail.Load()
		}
	}
}

// enqueueBatch claims up to len(vs) consecutive free positions with one
// compare-and-swap, then fills and publishes them in order.
func (q *sequencedRing[T]) enqueueBatch(vs []T) int {
	limit := min(uint64(len(vs)), q.mask+1)
	if limit == 0 {
		return 0
	}
	pos := q.tail.Load()
	for {
		// Count the free slots from pos. A sequence behind its position
		// ends the count, because that slot still holds a value from
		// the previous lap. A sequence ahead of it means another
		// producer has moved tail past pos, so the compare-and-swap
		// would fail anyway.
		n := uint64(0)
		stale := false
		for n < limit {
			lag := int64(q.slots[(pos+n)&q.mask].sequence.Load() - (pos + n))
			if lag != 0 {
				stale = lag > 0
				break
			}
			n++
		}
		if stale {
			pos = q.tail.Load()
			continue
		}
		if n == 0 {
			return 0
		}
		if !q.tail.CompareAndSwap(pos, pos+n) {
			pos = q.tail.Load()
			continue
		}

		// Positions pos to pos+n-1 now belong to this call. Each slot's
		// sequence was checked to be free for exactly that position, and
		// no other goroutine changes it until this call publishes.
		for i := range n {
			slot := &q.slots[(pos+i)&q.mask]
			slot.value = vs[i]
			slot.sequence.Store(pos + i + 1)
		}
		return int(n)
	}
}

// dequeueExclusive removes the value at head. The caller must be the only
// consumer, so the slot at head is either ready or still empty.
func (q *sequencedRing[T]) dequeueExclusive() (T, bool) {
	var zero T
	pos := q.head.Load()
	slot := &q.slots[pos&q.mask]
	if slot.sequence.Load() != pos+1 {
		return zero, false
	}
	v := slot.value
	slot.value = zero
	slot.sequence.Store(pos + q.mask + 1)
	q.head.Store(pos + 1)
	return v, true
}

// dequeueBatchExclusive moves ready values into out until out is full or a
// slot is not ready. The caller must be the only consumer.
func (q *sequencedRing[T]) dequeueBatchExclusive(out []T) int {
	var zero T
	pos := q.head.Load()
	n := 0
	for n < len(out) {
		p := pos + uint64(n)
		slot := &q.slots[p&q.mask]
		if slot.sequence.Load() != p+1 {
			break
		}
		out[n] = slot.value
		slot.value = zero
		slot.sequence.Store(p + q.mask + 1)
		n++
	}
	if n > 0 {
		// Producers may reuse the freed slots before head moves, so
		// Len can briefly count more than the capacity (occupancy
		// clamps it).
		q.head.Store(pos + uint64(n))
	}
	return n
}

// dequeueShared removes the value at head when consumers compete for it.
func (q *sequencedRing[T]) dequeueShared() (T, bool) {
	var zero T
	pos := q.head.Load()
	for {
		slot := &q.slots[pos&q.mask]
		lag := int64(slot.sequence.Load() - (pos + 1))
		switch {
		case lag == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				v := slot.value
				slot.value = zero
				slot.sequence.Store(pos + q.mask + 1)
				return v, true
			}
			pos = q.head.Load()
		case lag < 0:
			// Not yet published for this lap.
			return zero, false
		default:
			// Another consumer claimed pos after this call loaded head.
			pos = q.head.Load()
		}
	}
}

// dequeueBatchShared claims up to len(out) consecutive ready positions with
// one compare-and-swap, then moves their values out and frees the slots.
func (q *sequencedRing[T]) dequeueBatchShared(out []T) int {
	var zero T
	limit := min(uint64(len(out)), q.mask+1)
	if limit == 0 {
		return 0
	}
	pos := q.head.Load()
	for {
		// Count the ready slots from pos, as in enqueueBatch. A sequence
		// behind its position means the value is not yet published, and
		// one ahead means another consumer has moved head past pos.
		n := uint64(0)
		stale := false
		for n < limit {
			lag := int64(q.slots[(pos+n)&q.mask].sequence.Load() - (pos + n + 1))
			if lag != 0 {
				stale = lag > 0
				break
			}
			n++
		}
		if stale {
			pos = q.head.Load()
			continue
		}
		if n == 0 {
			return 0
		}
		if !q.head.CompareAndSwap(pos, pos+n) {
			pos = q.head.Load()
			continue
		}

		for i := range n {
			slot := &q.slots[(pos+i)&q.mask]
			out[i] = slot.value
			slot.value = zero
			slot.sequence.Store(pos + i + q.mask + 1)
		}
		return int(n)
	}
}

func (q *sequencedRing[T]) len() int {
	head := q.head.Load()
	return occupancy(head, q.tail.Load(), q.mask+1)
}
