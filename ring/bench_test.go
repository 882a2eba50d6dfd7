package ring

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// benchSize is the capacity of every ring and channel in the benchmarks.
const benchSize = 1024

// BenchmarkTransfer measures the cost per value of moving b.N values from
// producer goroutines to the benchmark goroutine, which is the only
// consumer. Every ring variant runs with single and 32-value batch
// operations. A buffered channel of the same capacity is the baseline, and
// its batch case sends and receives 32 values one by one because channels
// have no batch operation. A side that finds the ring full or empty calls
// runtime.Gosched, so the benchmarks also work with fewer CPUs than
// goroutines.
func BenchmarkTransfer(b *testing.B) {
	for _, v := range variants {
		producerCounts := []int{1}
		if v.multiProducer {
			producerCounts = append(producerCounts, 2)
		}
		for _, producers := range producerCounts {
			for _, batch := range []int{1, 32} {
				name := fmt.Sprintf("%s/batch=%d/producers=%d", v.name, batch, producers)
				b.Run(name, func(b *testing.B) {
					benchmarkRing(b, mustQueue[uint64](b, v, benchSize), batch, producers)
				})
			}
		}
	}
	for _, producers := range []int{1, 2} {
		for _, batch := range []int{1, 32} {
			name := fmt.Sprintf("chan/batch=%d/producers=%d", batch, producers)
			b.Run(name, func(b *testing.B) {
				benchmarkChannel(b, batch, producers)
			})
		}
	}
}

// shares splits total values as evenly as possible among n producers.
func shares(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

func benchmarkRing(b *testing.B, q queue[uint64], batch, producers int) {
	b.ReportAllocs()
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, count := range shares(b.N, producers) {
		wg.Go(func() {
			in := make([]uint64, batch)
			for sent := 0; sent < count; {
				var n int
				if batch == 1 {
					if q.Enqueue(uint64(sent)) {
						n = 1
					}
				} else {
					n = q.EnqueueBatch(in[:min(batch, count-sent)])
				}
				if n == 0 {
					runtime.Gosched()
				}
				sent += n
			}
		})
	}

	out := make([]uint64, batch)
	for received := 0; received < b.N; {
		var n int
		if batch == 1 {
			if _, ok := q.Dequeue(); ok {
				n = 1
			}
		} else {
			n = q.DequeueBatch(out)
		}
		if n == 0 {
			runtime.Gosched()
		}
		received += n
	}
	b.StopTimer()
	wg.Wait()
}

func benchmarkChannel(b *testing.B, batch, producers int) {
	b.ReportAllocs()
	ch := make(chan uint64, benchSize)
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, count := range shares(b.N, producers) {
		wg.Go(func() {
			for sent := 0; sent < count; {
				for i := range min(batch, count-sent) {
					ch <- uint64(sent + i)
				}
				sent += min(batch, count-sent)
			}
		})
	}
	for received := 0; received < b.N; {
		n := min(batch, b.N-received)
		for range n {
			<-ch
		}
		received += n
	}
	b.StopTimer()
	wg.Wait()
}
