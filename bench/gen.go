package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Generator settings.
const (
	// Each BPF_PROG_RUN call sets up and tears down a page pool, and the
	// thread sleeps for milliseconds at the end of a call (measured on
	// Linux 6.18: in uninterruptible sleep, with its CPU idle). Calls are
	// therefore sized to last about genCallTime at the rate the previous
	// call reached, between genMinChunk and genMaxChunk frames.
	genCallTime = 100 * time.Millisecond
	genMinChunk = 1 << 14
	genMaxChunk = 1 << 22
	genChunk    = 1 << 17 // the first call's size
	genPaceTime = 20 * time.Millisecond
	// genWatchPeriod is how often a thread that is still sending after
	// its deadline is signalled.
	genWatchPeriod = 50 * time.Millisecond
	// genBatch is the number of frames the kernel sends per batch in
	// live-frames mode (its default, 64).
	genBatch = 64
	// genMaxRate bounds the calls of one thread: a run never makes more
	// calls than this rate of frames would need for its duration.
	genMaxRate = 50e6
	// maxLiveFrame is the largest frame live-frames mode accepts with 4
	// KiB pages: a page less the XDP headroom and the space for struct
	// skb_shared_info (an estimate that leaves some margin).
	maxLiveFrame = 3500
)

// GenConfig describes one generator run.
type GenConfig struct {
	// Netns is the namespace of the interface that transmits.
	Netns *Netns
	// Via is the interface the frames are sent through; they arrive at
	// its veth peer, which needs a native XDP program.
	Via string
	// Frame is sent again and again, unchanged.
	Frame []byte
	// CPUs lists the CPUs to run one generator thread on each. A veth
	// peer receives a redirected frame on queue (CPU mod its queue
	// count), and its XDP program runs on the generator's CPU.
	CPUs []int
	// Duration bounds the run; Count, if above zero, bounds the frames
	// each thread sends.
	Duration time.Duration
	Count    uint64
	// Rate, if above zero, paces each thread to about that many frames
	// per second, so that the thread leaves CPU time to others.
	Rate float64
}

// Generator sends frames with BPF_PROG_RUN in live-frames mode
// (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18 and later), one thread per CPU.
// The kernel's count of frames sent is not a count of frames delivered:
// a frame that the receiving veth cannot take is dropped silently.
type Generator struct {
	prog *ebpf.Program
	wg   sync.WaitGroup
	mu   sync.Mutex
	sent uint64
	errs []error
}

// StartGenerator starts the threads of a run. Each stops at the
// deadline, after Count frames, or when ctx is done, whichever is first.
func StartGenerator(ctx context.Context, cfg GenConfig) (*Generator, error) {
	if len(cfg.Frame) < 14 || len(cfg.Frame) > maxLiveFrame {
		return nil, fmt.Errorf("start generator: invalid frame length %d (use 14 to %d bytes)", len(cfg.Frame), maxLiveFrame)
	}
	if len(cfg.CPUs) == 0 {
		return nil, errors.New("start generator: no CPU given")
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("start generator: invalid duration %v", cfg.Duration)
	}
	var ifindex int
	err := cfg.Netns.Do(func() error {
		ifi, err := net.InterfaceByName(cfg.Via)
		if err != nil {
			return fmt.Errorf("find generator interface %s in %s: %w", cfg.Via, cfg.Netns.Name, err)
		}
		ifindex = ifi.Index
		return nil
	})
	if err != nil {
		return nil, err
	}
	prog, err := NewRedirect(ifindex)
	if err != nil {
		return nil, err
	}
	g := &Generator{prog: prog}
	deadline := time.Now().Add(cfg.Duration)
	maxCalls := int(cfg.Duration.Seconds()*genMaxRate/genMinChunk) + 1
	started := make(chan error, len(cfg.CPUs))
	for _, cpu := range cfg.CPUs {
		g.wg.Add(1)
		go g.thread(ctx, cfg, cpu, deadline, maxCalls, started)
	}
	var errs []error
	for range cfg.CPUs {
		if err := <-started; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		g.wg.Wait()
		prog.Close()
		return nil, errors.Join(errs...)
	}
	return g, nil
}

func (g *Generator) thread(ctx context.Context, cfg GenConfig, cpu int, deadline time.Time, maxCalls int, started chan<- error) {
	defer g.wg.Done()
	// The thread stays locked when the goroutine ends, so the runtime
	// discards it with its namespace and CPU affinity.
	runtime.LockOSThread()
	if err := enter(cfg.Netns.Name); err != nil {
		started <- err
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		started <- fmt.Errorf("pin generator to CPU %d: %w", cpu, err)
		return
	}
	stop := g.watch(ctx, unix.Gettid(), deadline)
	defer stop()
	started <- nil

	var sent uint64
	chunk := uint64(genChunk)
	if cfg.Rate > 0 {
		// Paced calls last about genPaceTime at the requested rate.
		chunk = uint64(max(genMinChunk, cfg.Rate*genPaceTime.Seconds()))
	}
	begin := time.Now()
	for calls := 0; calls < maxCalls; calls++ {
		if cfg.Rate > 0 {
			// Wait until the frames sent so far are due.
			due := begin.Add(time.Duration(float64(sent) / cfg.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				if wait > time.Until(deadline) {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
		start := time.Now()
		if ctx.Err() != nil || !start.Before(deadline) {
			break
		}
		repeat := chunk
		if left := time.Until(deadline); left < genCallTime {
			// The last call ends near the deadline.
			repeat = max(genMinChunk, uint64(float64(chunk)*float64(left)/float64(genCallTime)))
		}
		if cfg.Count > 0 {
			left := cfg.Count - sent
			if left == 0 {
				break
			}
			repeat = min(left, repeat)
		}
		err := runLive(g.prog.FD(), cfg.Frame, uint32(repeat), genBatch)
		if errors.Is(err, unix.EINTR) {
			// A signal, the watchdog's at the deadline or another, ended
			// the call after an unknown part of it; the loop checks the
			// deadline again.
			continue
		}
		if err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("generate on CPU %d through %s: %w", cpu, cfg.Via, err))
			g.mu.Unlock()
			break
		}
		sent += repeat
		if took := time.Since(start); took > 0 && cfg.Rate == 0 {
			next := float64(repeat) * float64(genCallTime) / float64(took)
			chunk = uint64(min(max(next, genMinChunk), genMaxChunk))
		}
	}
	g.mu.Lock()
	g.sent += sent
	g.mu.Unlock()
}

// watch bounds the calls of the generator thread tid in time: after the
// deadline, or when ctx is done, it signals the thread every
// genWatchPeriod, which ends a BPF_PROG_RUN call in progress with EINTR.
// A call can otherwise last far longer than planned when the receiving
// side slows down. The returned function stops the watch; the thread
// calls it before it exits, so a thread id is never signalled after its
// thread is gone.
func (g *Generator) watch(ctx context.Context, tid int, deadline time.Time) (stop func()) {
	var mu sync.Mutex
	done := false
	quit := make(chan struct{})
	pid := unix.Getpid()
	go func() {
		t := time.NewTimer(time.Until(deadline) + genWatchPeriod)
		defer t.Stop()
		select {
		case <-quit:
			return
		case <-ctx.Done():
		case <-t.C:
		}
		tick := time.NewTicker(genWatchPeriod)
		defer tick.Stop()
		for {
			mu.Lock()
			if !done {
				// SIGURG is the Go runtime's preemption signal, which it
				// ignores when no preemption is pending.
				_ = unix.Tgkill(pid, tid, unix.SIGURG)
			}
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		mu.Lock()
		done = true
		mu.Unlock()
		close(quit)
	}
}

// Wait waits for every thread to stop, unloads the program and returns
// the number of frames the kernel reported as sent.
func (g *Generator) Wait() (uint64, error) {
	g.wg.Wait()
	g.prog.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent, errors.Join(g.errs...)
}

// Send sends count frames from one thread on cpu and waits, with a
// bound of timeout; it primes tables before a measurement.
func Send(ctx context.Context, n *Netns, via string, frame []byte, cpu int, count uint64, timeout time.Duration) error {
	g, err := StartGenerator(ctx, GenConfig{Netns: n, Via: via, Frame: frame, CPUs: []int{cpu}, Duration: timeout, Count: count})
	if err != nil {
		return err
	}
	_, err = g.Wait()
	return err
}
