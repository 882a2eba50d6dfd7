package ring

import "testing"

// item is a multi-word value, like a packet descriptor or an event.
type item struct {
	producer uint32
	seq      uint32
	check    uint64
}

func TestOperationsDoNotAllocate(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name+"/pointer", func(t *testing.T) {
			checkNoAllocs(t, v, new(int))
		})
		t.Run(v.name+"/struct", func(t *testing.T) {
			checkNoAllocs(t, v, item{producer: 1, seq: 2, check: 3})
		})
	}
}

// checkNoAllocs runs every operation of a ring of variant v under
// testing.AllocsPerRun. Each case leaves the ring as it found it, so that
// the repeated runs measure the same state.
func checkNoAllocs[T any](t *testing.T, v variant, value T) {
	t.Helper()
	const size = 64
	batch := make([]T, 32)
	for i := range batch {
		batch[i] = value
	}
	out := make([]T, 32)

	var q queue[T]
	cases := []struct {
		name    string
		prefill int
		run     func()
	}{
		{"Enqueue and Dequeue", size / 2, func() {
			q.Enqueue(value)
			q.Dequeue()
		}},
		// Moving 32 values through a ring of 64 that holds 16 starts
		// every other run at slot 32, so the batches wrap.
		{"EnqueueBatch and DequeueBatch", 16, func() {
			n := q.EnqueueBatch(batch)
			q.DequeueBatch(out[:n])
		}},
		{"Enqueue and EnqueueBatch on full ring", size, func() {
			q.Enqueue(value)
			q.EnqueueBatch(batch)
		}},
		{"Dequeue and DequeueBatch on empty ring", 0, func() {
			q.Dequeue()
			q.DequeueBatch(out)
		}},
		{"Len and Cap", size / 2, func() {
			_ = q.Len() + q.Cap()
		}},
	}
	for _, c := range cases {
		q = mustQueue[T](t, v, size)
		for range c.prefill {
			q.Enqueue(value)
		}
		if allocs := testing.AllocsPerRun(1000, c.run); allocs != 0 {
			t.Errorf("%s: %v allocations per run, want 0", c.name, allocs)
		}
		if got := q.Len(); got != c.prefill {
			t.Errorf("%s: Len() after the runs = %d, want %d", c.name, got, c.prefill)
		}
	}
}
