package ring

// MPSC is a bounded FIFO ring for any number of producer goroutines and one
// consumer goroutine. Create it with NewMPSC.
type MPSC[T any] struct {
	q sequencedRing[T]
}

// NewMPSC returns an empty ring with capacity size, which must be a power
// of two from 2 to MaxSize.
func NewMPSC[T any](size int) (*MPSC[T], error) {
	if err := checkSize("MPSC", size); err != nil {
		return nil, err
	}
	r := &MPSC[T]{}
	r.q.init(size)
	return r, nil
}

// Enqueue appends v and reports whether there was room for it. Any
// goroutine may call it.
func (r *MPSC[T]) Enqueue(v T) bool { return r.q.enqueue(v) }

// EnqueueBatch appends the longest prefix of vs that fits and returns its
// length, which is 0 when the ring is full. The prefix occupies consecutive
// positions, so values of concurrent producers do not interleave with it.
// Any goroutine may call it.
func (r *MPSC[T]) EnqueueBatch(vs []T) int { return r.q.enqueueBatch(vs) }

// Dequeue removes and returns the oldest value. It returns the zero value
// and false when the ring is empty, or when the oldest position is claimed
// by a producer that has not yet written it. Only the consumer may call it.
func (r *MPSC[T]) Dequeue() (T, bool) { return r.q.dequeueExclusive() }

// DequeueBatch moves up to len(out) of the oldest values into out, oldest
// first, and returns how many it moved. It stops early at a position that
// a producer has claimed but not yet written. Only the consumer may call it.
func (r *MPSC[T]) DequeueBatch(out []T) int { return r.q.dequeueBatchExclusive(out) }

// Len returns the number of values in the ring, counting positions that
// producers have claimed but not yet written. It is exact when no operation
// runs at the same time and otherwise an estimate from 0 to Cap.
func (r *MPSC[T]) Len() int { return r.q.len() }

// Cap returns the capacity of the ring.
func (r *MPSC[T]) Cap() int { return int(r.q.mask + 1) }
