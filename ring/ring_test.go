package ring

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"weak"
)

func TestNewInvalidSize(t *testing.T) {
	sizes := []int{0, 1, 3, 5, 6, 7, 12, 1000, MaxSize - 1, MaxSize + 1, -1, -2, -4, math.MinInt, math.MaxInt}
	for _, shift := range []int{31, 40, 62} {
		// Powers of two above MaxSize, where int is wide enough.
		if shift < strconv.IntSize-1 {
			sizes = append(sizes, 1<<shift)
		}
	}
	for _, v := range variants {
		for _, size := range sizes {
			q, err := newQueue[int](v, size)
			if err == nil {
				t.Errorf("New%s(%d) = %v, nil; want an error", v.name, size, q)
				continue
			}
			if q != nil {
				t.Errorf("New%s(%d) returned ring %v with error %v, want nil", v.name, size, q, err)
			}
			if !errors.Is(err, ErrInvalidSize) {
				t.Errorf("New%s(%d) error = %v, want it to wrap ErrInvalidSize", v.name, size, err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(size)) {
				t.Errorf("New%s(%d) error = %q, want it to name the size", v.name, size, err)
			}
		}
	}
}

func TestNewValidSize(t *testing.T) {
	for _, v := range variants {
		for _, size := range []int{2, 4, 8, 64, 1024, 1 << 16} {
			q, err := newQueue[int](v, size)
			if err != nil {
				t.Errorf("New%s(%d) error = %v, want nil", v.name, size, err)
				continue
			}
			if got := q.Cap(); got != size {
				t.Errorf("New%s(%d).Cap() = %d, want %d", v.name, size, got, size)
			}
			if got := q.Len(); got != 0 {
				t.Errorf("New%s(%d).Len() = %d, want 0", v.name, size, got)
			}
		}
	}
}

func TestEmptyRing(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			q := mustQueue[int](t, v, 4)

			if got, ok := q.Dequeue(); ok || got != 0 {
				t.Errorf("Dequeue() on new ring = %d, %t; want 0, false", got, ok)
			}
			out := []int{-1, -1}
			if n := q.DequeueBatch(out); n != 0 {
				t.Errorf("DequeueBatch(len 2) on new ring = %d, want 0", n)
			}
			if !slices.Equal(out, []int{-1, -1}) {
				t.Errorf("DequeueBatch on new ring wrote %v, want out unchanged", out)
			}

			// Empty again after one value went through.
			if !q.Enqueue(7) {
				t.Fatalf("Enqueue(7) on empty ring = false, want true")
			}
			if got, ok := q.Dequeue(); !ok || got != 7 {
				t.Errorf("Dequeue() = %d, %t; want 7, true", got, ok)
			}
			if got, ok := q.Dequeue(); ok {
				t.Errorf("Dequeue() on drained ring = %d, true; want false", got)
			}
			if n := q.DequeueBatch(out); n != 0 {
				t.Errorf("DequeueBatch on drained ring = %d, want 0", n)
			}
			if got := q.Len(); got != 0 {
				t.Errorf("Len() on drained ring = %d, want 0", got)
			}
		})
	}
}

func TestFullRing(t *testing.T) {
	const size = 8
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			q := mustQueue[int](t, v, size)
			for i := range size {
				if !q.Enqueue(i) {
					t.Fatalf("Enqueue(%d) with %d of %d slots used = false, want true", i, i, size)
				}
			}
			if got := q.Len(); got != size {
				t.Errorf("Len() on full ring = %d, want %d", got, size)
			}
			if q.Enqueue(100) {
				t.Errorf("Enqueue(100) on full ring = true, want false")
			}
			if n := q.EnqueueBatch([]int{100, 101}); n != 0 {
				t.Errorf("EnqueueBatch(2 values) on full ring = %d, want 0", n)
			}
			if got := q.Len(); got != size {
				t.Errorf("Len() after rejected enqueues = %d, want %d", got, size)
			}

			// One free slot takes exactly one more value.
			if got, ok := q.Dequeue(); !ok || got != 0 {
				t.Fatalf("Dequeue() = %d, %t; want 0, true", got, ok)
			}
			if n := q.EnqueueBatch([]int{8, 9, 10}); n != 1 {
				t.Errorf("EnqueueBatch(3 values) with 1 free slot = %d, want 1", n)
			}
			if q.Enqueue(11) {
				t.Errorf("Enqueue(11) on refilled ring = true, want false")
			}

			out := make([]int, size+4)
			n := q.DequeueBatch(out)
			want := []int{1, 2, 3, 4, 5, 6, 7, 8}
			if !slices.Equal(out[:n], want) {
				t.Errorf("DequeueBatch after refill = %v, want %v", out[:n], want)
			}
		})
	}
}

func TestFIFOWrapAround(t *testing.T) {
	// A ring of 4 wraps every few operations, so 20000 rounds cross the
	// end of the slot array thousands of times, with single and batch
	// operations starting at every slot index.
	const size = 4
	const rounds = 20000
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			q := mustQueue[int](t, v, size)
			next, expected := 0, 0
			in := make([]int, size)
			out := make([]int, size)
			for round := range rounds {
				count := round%size + 1
				if round%3 == 0 {
					for range count {
						if !q.Enqueue(next) {
							t.Fatalf("round %d: Enqueue(%d) = false with Len() = %d", round, next, q.Len())
						}
						next++
					}
				} else {
					for i := range count {
						in[i] = next + i
					}
					if n := q.EnqueueBatch(in[:count]); n != count {
						t.Fatalf("round %d: EnqueueBatch(%d values) = %d, want %d", round, count, n, count)
					}
					next += count
				}
				if got := q.Len(); got != count {
					t.Fatalf("round %d: Len() = %d, want %d", round, got, count)
				}

				if round%2 == 0 {
					for range count {
						got, ok := q.Dequeue()
						if !ok || got != expected {
							t.Fatalf("round %d: Dequeue() = %d, %t; want %d, true", round, got, ok, expected)
						}
						expected++
					}
				} else {
					n := q.DequeueBatch(out)
					if n != count {
						t.Fatalf("round %d: DequeueBatch(len %d) = %d, want %d", round, size, n, count)
					}
					for i := range n {
						if out[i] != expected {
							t.Fatalf("round %d: DequeueBatch out[%d] = %d, want %d", round, i, out[i], expected)
						}
						expected++
					}
				}
			}
			if got := q.Len(); got != 0 {
				t.Errorf("Len() after %d rounds = %d, want 0", rounds, got)
			}
		})
	}
}

func TestEnqueueBatchPartial(t *testing.T) {
	const size = 8
	tests := []struct {
		name    string
		prefill int // values enqueued one by one first
		batch   int // length of the batch
		want    int // values EnqueueBatch accepts
	}{
		{"empty ring, small batch", 0, 3, 3},
		{"empty ring, exact fit", 0, size, size},
		{"empty ring, oversized batch", 0, size + 5, size},
		{"half full, batch fits", 4, 4, 4},
		{"half full, batch too long", 4, 6, 4},
		{"one free slot", size - 1, 3, 1},
		{"full ring", size, 2, 0},
		{"empty batch", 2, 0, 0},
	}
	for _, v := range variants {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				q := mustQueue[int](t, v, size)
				for i := range tt.prefill {
					if !q.Enqueue(i) {
						t.Fatalf("Enqueue(%d) during prefill = false", i)
					}
				}
				batch := make([]int, tt.batch)
				for i := range batch {
					batch[i] = tt.prefill + i
				}
				if n := q.EnqueueBatch(batch); n != tt.want {
					t.Errorf("EnqueueBatch(%d values) = %d, want %d", tt.batch, n, tt.want)
				}
				wantLen := tt.prefill + tt.want
				if got := q.Len(); got != wantLen {
					t.Errorf("Len() = %d, want %d", got, wantLen)
				}

				// The accepted prefix follows the prefill in order.
				out := make([]int, size)
				n := q.DequeueBatch(out)
				want := make([]int, wantLen)
				for i := range want {
					want[i] = i
				}
				if !slices.Equal(out[:n], want) {
					t.Errorf("DequeueBatch = %v, want %v", out[:n], want)
				}
			})
		}
	}
}

func TestDequeueBatchPartial(t *testing.T) {
	const size = 8
	tests := []struct {
		name   string
		stored int // values in the ring
		out    int // length of the output slice
		want   int // values DequeueBatch moves
	}{
		{"out shorter than ring", 6, 2, 2},
		{"out equals ring", 6, 6, 6},
		{"out longer than ring", 3, 8, 3},
		{"out longer than capacity", size, size + 4, size},
		{"empty out", 5, 0, 0},
		{"empty ring", 0, 4, 0},
	}
	for _, v := range variants {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				q := mustQueue[int](t, v, size)
				for i := range tt.stored {
					if !q.Enqueue(i + 1) {
						t.Fatalf("Enqueue(%d) = false", i+1)
					}
				}
				out := make([]int, tt.out)
				n := q.DequeueBatch(out)
				if n != tt.want {
					t.Fatalf("DequeueBatch(len %d) with %d stored = %d, want %d", tt.out, tt.stored, n, tt.want)
				}
				for i := range n {
					if out[i] != i+1 {
						t.Errorf("out[%d] = %d, want %d", i, out[i], i+1)
					}
				}
				for i := n; i < len(out); i++ {
					if out[i] != 0 {
						t.Errorf("out[%d] = %d beyond the %d moved values, want it untouched (0)", i, out[i], n)
					}
				}
				if got, want := q.Len(), tt.stored-tt.want; got != want {
					t.Errorf("Len() after DequeueBatch = %d, want %d", got, want)
				}

				// What remains comes out next, in order.
				for i := tt.want; i < tt.stored; i++ {
					if got, ok := q.Dequeue(); !ok || got != i+1 {
						t.Errorf("Dequeue() = %d, %t; want %d, true", got, ok, i+1)
					}
				}
			})
		}
	}
}

func TestBatchAcrossArrayEnd(t *testing.T) {
	// For every starting slot, a full-capacity batch wraps past the end
	// of the slot array (except at slot 0) and must keep its order.
	const size = 8
	for _, v := range variants {
		for start := range size {
			q := mustQueue[int](t, v, size)
			for range start {
				q.Enqueue(-1)
				q.Dequeue()
			}
			in := []int{10, 11, 12, 13, 14, 15, 16, 17}
			if n := q.EnqueueBatch(in); n != size {
				t.Errorf("%s start %d: EnqueueBatch(%d values) = %d, want %d", v.name, start, size, n, size)
				continue
			}
			out := make([]int, size)
			if n := q.DequeueBatch(out); n != size {
				t.Errorf("%s start %d: DequeueBatch(len %d) = %d, want %d", v.name, start, size, n, size)
			}
			if !slices.Equal(out, in) {
				t.Errorf("%s start %d: DequeueBatch = %v, want %v", v.name, start, out, in)
			}
		}
	}
}

func TestLenCap(t *testing.T) {
	const size = 16
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			q := mustQueue[int](t, v, size)
			steps := []struct {
				op      string
				count   int
				wantLen int
			}{
				{"enqueue", 1, 1},
				{"batch-in", 5, 6},
				{"dequeue", 2, 4},
				{"batch-in", 12, 16},
				{"batch-out", 10, 6},
				{"enqueue", 3, 9},
				{"batch-out", 20, 0},
				{"batch-in", 16, 16},
				{"dequeue", 16, 0},
			}
			out := make([]int, size+8)
			for i, s := range steps {
				switch s.op {
				case "enqueue":
					for range s.count {
						q.Enqueue(i)
					}
				case "batch-in":
					q.EnqueueBatch(make([]int, s.count))
				case "dequeue":
					for range s.count {
						q.Dequeue()
					}
				case "batch-out":
					q.DequeueBatch(out[:s.count])
				}
				if got := q.Len(); got != s.wantLen {
					t.Errorf("step %d (%s %d): Len() = %d, want %d", i, s.op, s.count, got, s.wantLen)
				}
				if got := q.Cap(); got != size {
					t.Errorf("step %d (%s %d): Cap() = %d, want %d", i, s.op, s.count, got, size)
				}
			}
		})
	}
}

func TestDequeueClearsSlots(t *testing.T) {
	const size = 8
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			q := mustQueue[*int](t, v, size)
			values := make([]*int, size)
			for i := range values {
				values[i] = new(int)
			}

			// Start at slot 5 so the batch operations wrap.
			for range 5 {
				q.Enqueue(values[0])
				q.Dequeue()
			}
			if i, p := firstNonNil(slotValues(q)); p != nil {
				t.Fatalf("slot %d = %p after single dequeues, want nil", i, p)
			}

			if n := q.EnqueueBatch(values); n != size {
				t.Fatalf("EnqueueBatch(%d values) = %d, want %d", size, n, size)
			}
			if _, ok := q.Dequeue(); !ok {
				t.Fatalf("Dequeue() on full ring = false")
			}
			out := make([]*int, 3)
			if n := q.DequeueBatch(out); n != 3 {
				t.Fatalf("DequeueBatch(len 3) = %d, want 3", n)
			}
			slots := slotValues(q)
			nonNil := 0
			for _, p := range slots {
				if p != nil {
					nonNil++
				}
			}
			if nonNil != size-4 {
				t.Errorf("%d slots non-nil after dequeuing 4 of %d, want %d", nonNil, size, size-4)
			}

			out = make([]*int, size)
			if n := q.DequeueBatch(out); n != size-4 {
				t.Fatalf("DequeueBatch(len %d) = %d, want %d", size, n, size-4)
			}
			if i, p := firstNonNil(slotValues(q)); p != nil {
				t.Errorf("slot %d = %p after draining the ring, want nil", i, p)
			}
		})
	}
}

func firstNonNil(slots []*int) (int, *int) {
	for i, p := range slots {
		if p != nil {
			return i, p
		}
	}
	return -1, nil
}

func TestDequeueReleasesValue(t *testing.T) {
	// A value that went through the ring must be collectable once the
	// consumer drops it, for both the single and the batch path.
	type payload struct{ data [64]byte }
	for _, v := range variants {
		for _, batch := range []bool{false, true} {
			q := mustQueue[*payload](t, v, 4)
			p := &payload{}
			ref := weak.Make(p)
			if batch {
				q.EnqueueBatch([]*payload{p})
				out := make([]*payload, 1)
				q.DequeueBatch(out)
				out[0] = nil
			} else {
				q.Enqueue(p)
				q.Dequeue()
			}
			p = nil
			runtime.GC()
			if ref.Value() != nil {
				t.Errorf("%s (batch %t): value still reachable after dequeue and GC, want it collected", v.name, batch)
			}
			runtime.KeepAlive(q)
		}
	}
}

func TestZeroSizeValues(t *testing.T) {
	for _, v := range variants {
		q := mustQueue[struct{}](t, v, 2)
		for i := range 2 {
			if !q.Enqueue(struct{}{}) {
				t.Errorf("%s: Enqueue(struct{}{}) with %d of 2 slots used = false, want true", v.name, i)
			}
		}
		if q.Enqueue(struct{}{}) {
			t.Errorf("%s: Enqueue(struct{}{}) on full ring = true, want false", v.name)
		}
		if n := q.DequeueBatch(make([]struct{}, 3)); n != 2 {
			t.Errorf("%s: DequeueBatch(len 3) = %d, want 2", v.name, n)
		}
	}
}

func mustQueue[T any](t testing.TB, v variant, size int) queue[T] {
	t.Helper()
	q, err := newQueue[T](v, size)
	if err != nil {
		t.Fatalf("New%s(%d): %v", v.name, size, err)
	}
	return q
}
