package ring

import (
	"slices"
	"testing"
)

// FuzzAgainstModel runs a sequence of operations, decoded from the input,
// on every ring variant and on a plain slice, and checks that both agree
// after each step. The first input byte picks the capacity (2 to 64). Each
// later byte is one operation, whose low two bits pick Enqueue,
// EnqueueBatch, Dequeue or DequeueBatch and whose other six bits are the
// batch length (0 to 63).
func FuzzAgainstModel(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x00, 0x00, 0x02, 0x02})
	f.Add([]byte{0x01, 0x21, 0x23, 0x11, 0x07, 0x00, 0x03})
	f.Add([]byte{0x05, 0xfd, 0x01, 0xfe, 0x0b, 0x4b, 0x02, 0xff})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		size := 2 << (ops[0] % 6)
		for _, v := range variants {
			q := mustQueue[int](t, v, size)
			var model []int
			next := 0
			batch := make([]int, 64)
			out := make([]int, 64)
			for step, op := range ops[1:] {
				count := int(op >> 2)
				switch op & 3 {
				case 0:
					got := q.Enqueue(next)
					want := len(model) < size
					if got != want {
						t.Fatalf("%s size %d step %d: Enqueue(%d) = %t, want %t", v.name, size, step, next, got, want)
					}
					if got {
						model = append(model, next)
						next++
					}
				case 1:
					for i := range count {
						batch[i] = next + i
					}
					got := q.EnqueueBatch(batch[:count])
					want := min(count, size-len(model))
					if got != want {
						t.Fatalf("%s size %d step %d: EnqueueBatch(%d values) = %d, want %d", v.name, size, step, count, got, want)
					}
					model = append(model, batch[:got]...)
					next += got
				case 2:
					got, ok := q.Dequeue()
					wantOK := len(model) > 0
					want := 0
					if wantOK {
						want = model[0]
						model = model[1:]
					}
					if got != want || ok != wantOK {
						t.Fatalf("%s size %d step %d: Dequeue() = %d, %t; want %d, %t", v.name, size, step, got, ok, want, wantOK)
					}
				case 3:
					got := q.DequeueBatch(out[:count])
					want := min(count, len(model))
					if got != want {
						t.Fatalf("%s size %d step %d: DequeueBatch(len %d) = %d, want %d", v.name, size, step, count, got, want)
					}
					if !slices.Equal(out[:got], model[:got]) {
						t.Fatalf("%s size %d step %d: DequeueBatch = %v, want %v", v.name, size, step, out[:got], model[:got])
					}
					model = model[got:]
				}
				if got := q.Len(); got != len(model) {
					t.Fatalf("%s size %d step %d: Len() = %d, want %d", v.name, size, step, got, len(model))
				}
			}
		}
	})
}
