package bench

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 9, 7}, 5},
	}
	for _, tc := range tests {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("Median changed its input to %v", in)
	}
}

func TestMinMax(t *testing.T) {
	lo, hi := MinMax([]float64{2, 9, -1, 4})
	if lo != -1 || hi != 9 {
		t.Errorf("MinMax = %v, %v, want -1, 9", lo, hi)
	}
	if lo, hi := MinMax(nil); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("MinMax(nil) = %v, %v, want NaN, NaN", lo, hi)
	}
}

func TestTrimmed(t *testing.T) {
	tests := []struct {
		in   []float64
		want int
	}{
		{[]float64{1, 2, 3}, 3},
		{[]float64{1, 2, 3, 4}, 2},
		{[]float64{1, 2, 3, 4, 5, 6}, 4},
	}
	for _, tc := range tests {
		if got := Trimmed(tc.in); len(got) != tc.want {
			t.Errorf("Trimmed(%v) = %v, want %d values", tc.in, got, tc.want)
		}
	}
	if got := Trimmed([]float64{9, 1, 2, 9}); got[0] != 1 || got[1] != 2 {
		t.Errorf("Trimmed([9 1 2 9]) = %v, want [1 2]", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {0, 1}, {0.5, 1}}
	for _, tc := range tests {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil, 50) = %v, want 0", got)
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile([7], 99) = %v, want 7", got)
	}
}

func TestRates(t *testing.T) {
	t0 := time.Unix(100, 0)
	samples := []Sample{
		{At: t0, Frames: 0},
		{At: t0.Add(500 * time.Millisecond), Frames: 1000},
		{At: t0.Add(500 * time.Millisecond), Frames: 1000}, // no time passed: skipped
		{At: t0.Add(time.Second), Frames: 3000},
	}
	got := Rates(samples)
	want := []float64{2000, 4000}
	if len(got) != len(want) {
		t.Fatalf("Rates = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Rates[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
