package bench

import (
	"math"
	"slices"
	"time"
)

// Median returns the median of xs, the mean of the middle two for an even
// count, or NaN for none. xs is not changed.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MinMax returns the smallest and largest of xs, or NaN for none.
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// Trimmed returns xs without its first and last element when it has at
// least four, since the first and last sample of a run overlap the start
// and the end of the traffic.
func Trimmed(xs []float64) []float64 {
	if len(xs) < 4 {
		return xs
	}
	return xs[1 : len(xs)-1]
}

// Percentile returns the p-th percentile (0 to 100) of sorted durations by
// the nearest-rank method, or 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// Source is a cumulative frame counter that a measurement samples.
type Source interface {
	Frames() (uint64, error)
}

// Sample is one reading of a Source.
type Sample struct {
	At     time.Time
	Frames uint64
}

// Rates returns the rate in frames per second between consecutive
// samples.
func Rates(samples []Sample) []float64 {
	var r []float64
	for i := 1; i < len(samples); i++ {
		dt := samples[i].At.Sub(samples[i-1].At).Seconds()
		if dt <= 0 {
			continue
		}
		r = append(r, float64(samples[i].Frames-samples[i-1].Frames)/dt)
	}
	return r
}
