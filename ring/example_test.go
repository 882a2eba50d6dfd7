package ring_test

import (
	"fmt"
	"sync"

	"github.com/vnet-xdp/vnet/ring"
)

// Workers hand requests to a control goroutine through an MPSC ring,
// several at a time.
func ExampleMPSC() {
	requests, err := ring.NewMPSC[uint32](64)
	if err != nil {
		panic(err)
	}

	var wg sync.WaitGroup
	for worker := range uint32(2) {
		wg.Go(func() {
			batch := []uint32{worker*10 + 1, worker*10 + 2, worker*10 + 3}
			for len(batch) > 0 {
				batch = batch[requests.EnqueueBatch(batch):]
			}
		})
	}
	wg.Wait()

	sum := uint32(0)
	out := make([]uint32, 32)
	for n := requests.DequeueBatch(out); n > 0; n = requests.DequeueBatch(out) {
		for _, r := range out[:n] {
			sum += r
		}
	}
	fmt.Println("sum of requests:", sum, "left:", requests.Len())
	// Output: sum of requests: 42 left: 0
}

func ExampleNewSPSC() {
	_, err := ring.NewSPSC[int](1000)
	fmt.Println(err)
	// Output: create SPSC ring of size 1000: invalid ring size (use a power of two from 2 to 1073741824)
}
