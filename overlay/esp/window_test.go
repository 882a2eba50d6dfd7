package esp

import (
	"math/rand/v2"
	"testing"
)

func TestWindowSteps(t *testing.T) {
	steps := []struct {
		seq  uint64
		want bool
	}{
		{1, true},
		{1, false},
		{3, true},
		{2, true},
		{2, false},
		{3, false},
		{100, true},
		{4, true},
		{99, true},
		{5000, true},
		{5000 - WindowSize, false},     // just outside
		{5000 - WindowSize + 1, true},  // oldest inside
		{5000 - WindowSize + 1, false}, // and now seen
		{4999, true},
		{5001, true},
		{5000, false},
		{1 << 40, true}, // a jump much larger than the window
		{1<<40 - 1, true},
		{1<<40 - WindowSize, false},
		{5001, false},
	}
	var w window
	for i, s := range steps {
		if got := w.accept(s.seq); got != s.want {
			t.Errorf("step %d: accept(%d) = %v, want %v (top %d)", i, s.seq, got, s.want, w.top)
		}
	}
}

func TestWindowMatchesModel(t *testing.T) {
	// The bitmap agrees with a set of accepted numbers and the rule of
	// RFC 4303 section 3.4.3 for random sequences of arrivals.
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var w window
		seen := map[uint64]bool{}
		var top uint64
		next := uint64(1)
		for i := 0; i < 5000; i++ {
			var seq uint64
			switch rng.IntN(4) {
			case 0:
				next += uint64(rng.IntN(3 * WindowSize))
				seq = next
			case 1:
				seq = next
				next++
			default:
				back := uint64(rng.IntN(WindowSize + 200))
				if back >= next {
					back = next - 1
				}
				seq = next - back
			}
			want := !seen[seq] && (seq > top || top-seq < WindowSize)
			if got := w.accept(seq); got != want {
				t.Fatalf("round %d step %d: accept(%d) = %v, want %v (top %d)", round, i, seq, got, want, top)
			}
			if want {
				seen[seq] = true
				top = max(top, seq)
			}
		}
	}
}

func TestWindowResetTo(t *testing.T) {
	for _, floor := range []uint64{1, 63, 64, 65, 1000, 1 << 33} {
		var w window
		w.resetTo(floor)
		for _, seq := range []uint64{floor, floor - 1, floor - WindowSize + 1, floor - WindowSize} {
			if seq == 0 || seq > floor {
				continue
			}
			if w.accept(seq) {
				t.Errorf("resetTo(%d): accept(%d) = true, want seen", floor, seq)
			}
		}
		for _, seq := range []uint64{floor + 1, floor + 2, floor + 63, floor + 64, floor + WindowSize} {
			if !w.accept(seq) {
				t.Errorf("resetTo(%d): accept(%d) = false, want new", floor, seq)
			}
		}
	}
}
