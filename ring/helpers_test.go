package ring

import "fmt"

// queue is the method set shared by SPSC, MPSC and MPMC, so that one test
// runs against all three.
type queue[T any] interface {
	Enqueue(v T) bool
	EnqueueBatch(vs []T) int
	Dequeue() (T, bool)
	DequeueBatch(out []T) int
	Len() int
	Cap() int
}

var (
	_ queue[int] = (*SPSC[int])(nil)
	_ queue[int] = (*MPSC[int])(nil)
	_ queue[int] = (*MPMC[int])(nil)
)

// variant describes one ring type and how many goroutines may use each side.
type variant struct {
	name          string
	multiProducer bool
	multiConsumer bool
}

var variants = []variant{
	{name: "SPSC"},
	{name: "MPSC", multiProducer: true},
	{name: "MPMC", multiProducer: true, multiConsumer: true},
}

// newQueue creates the ring of variant v. It returns a nil interface, not a
// typed nil pointer, on error.
func newQueue[T any](v variant, size int) (queue[T], error) {
	switch v.name {
	case "SPSC":
		r, err := NewSPSC[T](size)
		if err != nil {
			return nil, err
		}
		return r, nil
	case "MPSC":
		r, err := NewMPSC[T](size)
		if err != nil {
			return nil, err
		}
		return r, nil
	case "MPMC":
		r, err := NewMPMC[T](size)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	panic(fmt.Sprintf("unknown ring variant %q", v.name))
}

// slotValues returns a copy of the values stored in every slot of q, in
// slot order, so tests can check that dequeued slots were cleared.
func slotValues[T any](q queue[T]) []T {
	switch r := q.(type) {
	case *SPSC[T]:
		return append([]T(nil), r.slots...)
	case *MPSC[T]:
		return r.q.values()
	case *MPMC[T]:
		return r.q.values()
	}
	panic(fmt.Sprintf("unknown ring type %T", q))
}

func (q *sequencedRing[T]) values() []T {
	out := make([]T, len(q.slots))
	for i := range q.slots {
		out[i] = q.slots[i].value
	}
	return out
}
