package ring

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("ring.seed", 0,
	"seed for the ring stress tests (0 takes RING_SEED from the environment, or else the clock)")

// stressSeed returns the seed for a stress run and logs how to replay it.
// NOTE: The seed fixes the batch sizes and yields of every goroutine, but
// the interleaving still depends on the scheduler, so a replay repeats a
// failure often but not always.
func stressSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		if env := os.Getenv("RING_SEED"); env != "" {
			parsed, err := strconv.ParseUint(env, 10, 64)
			if err != nil {
				t.Fatalf("parse RING_SEED %q: %v (use a decimal unsigned integer)", env, err)
			}
			seed = parsed
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -ring.seed=%d or RING_SEED=%d)", seed, seed, seed)
	return seed
}

// checksum derives item.check from the producer and sequence number with
// the SplitMix64 finalizer, so that a torn or corrupted value is caught.
func checksum(producer, seq uint32) uint64 {
	z := uint64(producer)<<32 | uint64(seq)
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func newItem(producer, seq uint32) item {
	return item{producer: producer, seq: seq, check: checksum(producer, seq)}
}

type stressConfig struct {
	size        int
	producers   int
	consumers   int
	perProducer int           // maximum values each producer enqueues
	budget      time.Duration // time after which producers stop early
}

func TestStress(t *testing.T) {
	seed := stressSeed(t)

	// Each run ends when its producers have enqueued perProducer values
	// or its budget is spent, whichever comes first, so a machine that is
	// busy with other work shortens the run instead of timing it out.
	perProducer, budget := 100000, time.Second
	if testing.Short() {
		perProducer, budget = 10000, 200*time.Millisecond
	}
	for _, v := range variants {
		producers, consumers := 1, 1
		if v.multiProducer {
			producers = 4
		}
		if v.multiConsumer {
			consumers = 3
		}
		// A ring of 4 is full or empty most of the time, which
		// exercises those paths and the wrap-around. A ring of 64
		// lets batches of many values through.
		for _, size := range []int{4, 64} {
			name := fmt.Sprintf("%s/size=%d/producers=%d/consumers=%d", v.name, size, producers, consumers)
			t.Run(name, func(t *testing.T) {
				cfg := stressConfig{
					size:        size,
					producers:   producers,
					consumers:   consumers,
					perProducer: perProducer,
					budget:      budget,
				}
				runStress(t, v, cfg, seed)
			})
		}
	}
}

// runStress has each producer enqueue its values (producer id, sequence
// number) in random batch sizes with random yields, while the consumers
// check that every value arrives intact, exactly once, and in order per
// producer. With several consumers, each one receives any producer's values
// in increasing order, because consumers claim positions in increasing order
// and a producer's positions increase with its sequence numbers.
func runStress(t *testing.T, v variant, cfg stressConfig, seed uint64) {
	// The consumers drain what the producers enqueued within the budget.
	// Not finishing long after that means a value was lost or a goroutine
	// is stuck.
	hangTimeout := cfg.budget + 30*time.Second

	q := mustQueue[item](t, v, cfg.size)

	var (
		producersDone atomic.Int32
		produced      atomic.Int64 // values enqueued by all producers
		received      atomic.Int64 // values dequeued by all consumers
		budgetSpent   atomic.Bool
		stop          atomic.Bool // set on the first error or a hang
		wg            sync.WaitGroup
	)
	budgetTimer := time.AfterFunc(cfg.budget, func() { budgetSpent.Store(true) })
	defer budgetTimer.Stop()

	// deliveries counts how often each (producer, sequence) arrived.
	deliveries := make([]atomic.Int32, cfg.producers*cfg.perProducer)
	perProducerSent := make([]int, cfg.producers)
	consumerErrors := make([][]string, cfg.consumers)
	maxBatch := 2 * cfg.size // batches longer than the ring test the partial paths

	for id := range cfg.producers {
		wg.Go(func() {
			defer producersDone.Add(1)
			rng := rand.New(rand.NewPCG(seed, uint64(id)))
			batch := make([]item, maxBatch)
			seq := 0
			for seq < cfg.perProducer && !budgetSpent.Load() && !stop.Load() {
				accepted := 0
				if rng.IntN(2) == 0 {
					if q.Enqueue(newItem(uint32(id), uint32(seq))) {
						accepted = 1
					}
				} else {
					count := min(1+rng.IntN(maxBatch), cfg.perProducer-seq)
					for i := range count {
						batch[i] = newItem(uint32(id), uint32(seq+i))
					}
					accepted = q.EnqueueBatch(batch[:count])
				}
				seq += accepted
				produced.Add(int64(accepted))
				if accepted == 0 || rng.IntN(8) == 0 {
					runtime.Gosched()
				}
			}
			perProducerSent[id] = seq
		})
	}

	for id := range cfg.consumers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(1000+id)))
			out := make([]item, maxBatch)
			next := make([]uint32, cfg.producers) // lowest sequence still acceptable
			report := func(format string, args ...any) {
				if len(consumerErrors[id]) < 10 {
					consumerErrors[id] = append(consumerErrors[id], fmt.Sprintf(format, args...))
				}
				stop.Store(true)
			}
			for !stop.Load() {
				// Load producersDone first, because produced no longer
				// changes once all producers are done.
				if int(producersDone.Load()) == cfg.producers && received.Load() >= produced.Load() {
					return
				}

				n := 0
				if rng.IntN(2) == 0 {
					if value, ok := q.Dequeue(); ok {
						out[0] = value
						n = 1
					}
				} else {
					n = q.DequeueBatch(out[:1+rng.IntN(maxBatch)])
				}
				for _, value := range out[:n] {
					p := value.producer
					switch {
					case int(p) >= cfg.producers || int(value.seq) >= cfg.perProducer:
						report("consumer %d: received %+v, out of range", id, value)
					case value.check != checksum(p, value.seq):
						report("consumer %d: received %+v, want check %#x", id, value, checksum(p, value.seq))
					case value.seq < next[p]:
						report("consumer %d: received producer %d sequence %d after %d, want increasing",
							id, p, value.seq, next[p]-1)
					case !v.multiConsumer && value.seq != next[p]:
						report("consumer %d: received producer %d sequence %d, want %d", id, p, value.seq, next[p])
					default:
						next[p] = value.seq + 1
						deliveries[int(p)*cfg.perProducer+int(value.seq)].Add(1)
					}
				}
				received.Add(int64(n))
				if n == 0 || rng.IntN(8) == 0 {
					runtime.Gosched()
				}
			}
		})
	}

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(hangTimeout):
		stop.Store(true)
		t.Fatalf("stress run did not finish within %v: %d values enqueued, %d dequeued",
			hangTimeout, produced.Load(), received.Load())
	}

	failed := false
	for _, errs := range consumerErrors {
		for _, e := range errs {
			t.Error(e)
			failed = true
		}
	}
	if failed {
		return
	}
	t.Logf("%d values went through (budget spent: %t)", produced.Load(), budgetSpent.Load())

	if got, want := received.Load(), produced.Load(); got != want {
		t.Errorf("received %d values, want %d", got, want)
	}
	missing, duplicated := 0, 0
	for p, sent := range perProducerSent {
		for s := range cfg.perProducer {
			want := int32(0)
			if s < sent {
				want = 1
			}
			got := deliveries[p*cfg.perProducer+s].Load()
			if got == want {
				continue
			}
			if missing+duplicated < 5 {
				t.Errorf("producer %d sequence %d arrived %d times, want %d", p, s, got, want)
			}
			if got < want {
				missing++
			} else {
				duplicated++
			}
		}
	}
	if missing+duplicated > 0 {
		t.Errorf("%d values missing and %d duplicated or never sent", missing, duplicated)
	}
	if got := q.Len(); got != 0 {
		t.Errorf("Len() after the run = %d, want 0", got)
	}
	if value, ok := q.Dequeue(); ok {
		t.Errorf("Dequeue() after the run = %+v, true; want an empty ring", value)
	}
}
