package pmd

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/ring"
)

// Handler processes the frames a worker receives.
type Handler interface {
	// Process handles frames received on port in. It hands every frame
	// to exactly one of w.Transmit or w.Release before it returns.
	Process(w *Worker, in PortID, frames []Desc)
	// Tick runs on the worker's goroutine about every TickInterval, and
	// once after each wakeup, with the time read once for the call.
	Tick(w *Worker, now time.Time)
}

// TickInterval is how often a busy worker calls its handler's Tick.
const TickInterval = 10 * time.Millisecond

// WorkerConfig sets how a worker polls.
type WorkerConfig struct {
	// ID names the worker in counters and logs.
	ID int
	// CPU is the CPU the worker's thread is pinned to; -1 leaves it
	// unpinned.
	CPU int
	// SpinPolls is the number of consecutive empty polls after which
	// the worker sleeps in poll(2) until a socket has frames; 0 selects
	// DefaultSpinPolls, a negative value never sleeps.
	SpinPolls int
	// SleepTimeout bounds one sleep, so that Tick still runs while idle;
	// 0 selects 100 ms.
	SleepTimeout time.Duration
	// Nice is the scheduling priority of the worker's thread, from -20
	// (highest) to 19; 0 leaves it as inherited. A worker that waits on
	// a busy CPU's run queue does not refill its fill rings, and the
	// kernel drops what arrives meanwhile; a negative value lets the
	// scheduler run it before ordinary tasks when it wakes.
	Nice int
	// Logf, when set, reports conditions the worker caught and did not
	// return, such as a priority it could not set.
	Logf func(format string, args ...any)
}

// DefaultSpinPolls keeps a worker spinning for roughly 100 µs to 1 ms of
// empty polls before it sleeps, depending on the number of ports.
const DefaultSpinPolls = 2000

// quietSpinPolls is the number of empty polls after a sleep that timed
// out before the worker sleeps again.
const quietSpinPolls = 16

// WorkerStats are a worker's own counters.
type WorkerStats struct {
	Loops, EmptyPolls, Sleeps, Wakeups counter
	// BusyNanos accumulates nanoseconds spent on loops that moved frames.
	BusyNanos counter
	// FreeFrames is the number of frames on the UMEM's free stack, as of
	// the last Tick.
	FreeFrames counter
	// MaxLoopNanos is the longest loop, sleeps aside: the longest time
	// the worker left its rings alone. MaxEventNanos is the longest time
	// spent on the control events of one loop.
	MaxLoopNanos, MaxEventNanos counter
	// TxNoPort counts frames given to Transmit for a port that no longer
	// exists, which are released.
	TxNoPort counter
}

// A worker that moved frames within busyWindow sleeps at most
// busySleepTimeout. poll(2) wakes it when a socket's RX ring gets
// frames; a port whose fill ring ran empty gets none, since the kernel
// drops what it cannot place, so a long sleep would let the port drop
// traffic for the whole timeout. Waking every few milliseconds while
// traffic flows costs little and bounds that loss.
const (
	busyWindow       = time.Second
	busySleepTimeout = 10 * time.Millisecond
)

// linkDownKickPeriod is how many loops pass between two kicks of a port
// whose link is down: each such kick is a system call that fails.
const linkDownKickPeriod = 64

// DrainTimeout bounds how long Close waits for the frames on the TX
// rings to be transmitted before it closes the sockets.
const DrainTimeout = 20 * time.Millisecond

// Worker polls a set of AF_XDP sockets that share one UMEM, on one
// goroutine locked to an OS thread.
type Worker struct {
	cfg     WorkerConfig
	umem    *Umem
	handler Handler

	ports   []*Port
	retired []*Port
	// detached are removed ports whose sockets RemovePort closes on its
	// own goroutine before their frames are reclaimed.
	detached  []*Port
	published atomic.Pointer[[]*Port]
	dirty     []*Port
	rx        [BatchSize]Desc
	pollFds   []unix.PollFd
	polls     uint64

	events  *ring.MPSC[event]
	eventFd int
	state   atomic.Int32
	stopped chan struct{}
	mu      sync.Mutex // serialises callers of the control methods

	Stats WorkerStats
}

const (
	workerNew int32 = iota
	workerRunning
	workerStopping
	workerStopped
	workerClosed
)

// NewWorker creates a worker over u. Ports are added with AddPort, before
// or after Run starts.
func NewWorker(cfg WorkerConfig, u *Umem, h Handler) (*Worker, error) {
	if cfg.SpinPolls == 0 {
		cfg.SpinPolls = DefaultSpinPolls
	}
	if cfg.SleepTimeout == 0 {
		cfg.SleepTimeout = 100 * time.Millisecond
	}
	events, err := ring.NewMPSC[event](256)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create worker %d wakeup eventfd: %w", cfg.ID, err)
	}
	w := &Worker{
		cfg:     cfg,
		umem:    u,
		handler: h,
		events:  events,
		eventFd: efd,
		stopped: make(chan struct{}),
	}
	w.publish()
	return w, nil
}

// ID returns the worker's identifier.
func (w *Worker) ID() int { return w.cfg.ID }

// Umem returns the worker's UMEM, for opening sockets that share it.
func (w *Worker) Umem() *Umem { return w.umem }

// Ports returns the worker's ports as of the last change. The list is
// safe to read from any goroutine; the ports' counters are atomic.
func (w *Worker) Ports() []*Port { return *w.published.Load() }

func (w *Worker) publish() {
	ps := make([]*Port, 0, len(w.ports))
	for _, p := range w.ports {
		if p != nil {
			ps = append(ps, p)
		}
	}
	w.published.Store(&ps)
}

// Transmit queues a held frame for transmission on port out. Frames to a
// port that no longer exists are released and counted in TxNoPort.
//
// A descriptor that the kernel would reject (see PortStats.TxInvalid)
// is not queued: its frame is released and counted.
func (w *Worker) Transmit(out PortID, d Desc) {
	if out < 0 || int(out) >= len(w.ports) || w.ports[out] == nil {
		w.Stats.TxNoPort.inc()
		w.releaseAddr(d.Addr)
		return
	}
	p := w.ports[out]
	if !validTx(w.umem, d) {
		p.Stats.TxInvalid.inc()
		w.releaseAddr(d.Addr)
		return
	}
	p.out = append(p.out, d)
	if len(p.out) == cap(p.out) {
		p.transmit(w.umem)
		return
	}
	if !p.dirty {
		p.dirty = true
		w.dirty = append(w.dirty, p)
	}
}

// Release returns a held frame to the free stack.
func (w *Worker) Release(d Desc) {
	w.umem.Release(d.Addr)
}

// releaseAddr releases the frame at addr unless addr lies outside the
// UMEM, where there is no frame to release.
func (w *Worker) releaseAddr(addr uint64) {
	if addr < uint64(len(w.umem.area)) {
		w.umem.Release(addr)
	}
}

// flush transmits every port's queued frames.
func (w *Worker) flush() {
	for _, p := range w.dirty {
		p.dirty = false
		if len(p.out) > 0 {
			p.transmit(w.umem)
		}
	}
	w.dirty = w.dirty[:0]
}

// Run polls until Stop is called. It locks the goroutine to its thread
// and pins the thread to the configured CPU.
func (w *Worker) Run() error {
	// Under w.mu, so that a control method never runs an event inline
	// while the worker starts.
	w.mu.Lock()
	started := w.state.CompareAndSwap(workerNew, workerRunning)
	w.mu.Unlock()
	if !started {
		return fmt.Errorf("run worker %d: already started, stopped or closed", w.cfg.ID)
	}
	defer close(w.stopped)
	defer w.state.Store(workerStopped)
	w.umem.running.Store(true)
	defer w.umem.running.Store(false)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(w.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pin worker %d to CPU %d: %w", w.cfg.ID, w.cfg.CPU, err)
		}
	}
	if w.cfg.Nice != 0 {
		// PRIO_PROCESS with a thread ID sets that thread's nice value.
		if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), w.cfg.Nice); err != nil && w.cfg.Logf != nil {
			w.cfg.Logf("set nice %d on worker %d failed, it keeps the default priority: %v (needs CAP_SYS_NICE)", w.cfg.Nice, w.cfg.ID, err)
		}
	}

	idle := 0
	now := time.Now()
	lastTick := now
	lastStats := now
	lastMoved := now
	for w.state.Load() == workerRunning {
		start := now
		if w.drainEvents() {
			if d := uint64(time.Since(start)); d > w.Stats.MaxEventNanos.Load() {
				w.Stats.MaxEventNanos.set(d)
			}
		}
		moved := w.pollOnce()
		w.Stats.Loops.inc()
		now = time.Now()
		if d := uint64(now.Sub(start)); d > w.Stats.MaxLoopNanos.Load() {
			w.Stats.MaxLoopNanos.set(d)
		}
		if moved {
			idle = 0
			lastMoved = now
			w.Stats.BusyNanos.add(uint64(now.Sub(start)))
		} else {
			idle++
			w.Stats.EmptyPolls.inc()
		}
		if now.Sub(lastTick) >= TickInterval {
			lastTick = now
			w.tick(now)
		}
		if now.Sub(lastStats) >= time.Second {
			lastStats = now
			for _, p := range w.ports {
				if p != nil {
					p.refreshKernelStats()
				}
			}
		}
		if w.cfg.SpinPolls > 0 && idle >= w.cfg.SpinPolls {
			idle = 0
			if !w.sleep(now.Sub(lastMoved) < busyWindow) {
				// A sleep that timed out with nothing to do is followed
				// by a short spin only.
				idle = max(0, w.cfg.SpinPolls-quietSpinPolls)
			}
			now = time.Now()
			lastTick = now
			w.tick(now)
		}
	}
	return nil
}

// tick runs the handler's Tick, transmits what it queued, and kicks
// every port with frames on its TX ring, links that are down included.
func (w *Worker) tick(now time.Time) {
	w.Stats.FreeFrames.set(uint64(len(w.umem.free)))
	w.handler.Tick(w, now)
	w.flush()
	w.kickAll(true)
}

// PollOnce services every port once, as one loop of Run does, and
// reports whether any frame arrived. Tests and benchmarks drive a worker
// with it instead of Run; it must not be called while Run is running.
func (w *Worker) PollOnce() bool {
	if w.state.Load() == workerRunning {
		panic("pmd: PollOnce called while the worker runs")
	}
	return w.pollOnce()
}

// pollOnce services every port once and reports whether any frame
// arrived.
func (w *Worker) pollOnce() bool {
	moved := false
	u := w.umem
	for _, p := range w.ports {
		if p == nil {
			continue
		}
		p.reap(u)
		kept, taken := p.receive(u, w.rx[:])
		if kept > 0 {
			w.handler.Process(w, p.id, w.rx[:kept])
			w.flush()
		}
		// Refilling after the handler ran gives the kernel back the
		// frames of this batch at once.
		p.refill(u)
		if taken == 0 {
			p.wakeRx()
			continue
		}
		moved = true
	}
	// Frames queued outside Process, by Tick or Call, go out now too.
	w.flush()
	// Ports whose link is down are kicked on every linkDownKickPeriod-th
	// loop and on ticks, not on every loop.
	w.polls++
	w.kickAll(w.polls%linkDownKickPeriod == 0)
	return moved
}

// kickAll kicks every port with frames on its TX ring; force includes
// ports whose link is down.
func (w *Worker) kickAll(force bool) {
	for _, p := range w.ports {
		if p != nil {
			p.kick(force)
		}
	}
}

// sleep blocks in poll(2) until a socket has frames, an event arrives or
// the sleep timeout passes, and reports whether it woke before the
// timeout.
func (w *Worker) sleep(busyRecently bool) bool {
	w.pollFds = w.pollFds[:0]
	w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(w.eventFd), Events: unix.POLLIN})
	for _, p := range w.ports {
		if p != nil && p.sock.fake == nil {
			w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(p.sock.fd), Events: unix.POLLIN})
		}
	}
	w.Stats.Sleeps.inc()
	timeout := w.cfg.SleepTimeout
	if busyRecently && timeout > busySleepTimeout {
		timeout = busySleepTimeout
	}
	n, err := unix.Poll(w.pollFds, int(timeout/time.Millisecond))
	if err != nil {
		// EINTR: a signal arrived; anything else: poll again soon.
		return true
	}
	if n == 0 {
		return false
	}
	w.Stats.Wakeups.inc()
	if w.pollFds[0].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		_, _ = unix.Read(w.eventFd, buf[:])
	}
	return true
}

// Stop makes Run return after its current loop and waits for it. Ports
// stay open until Close.
func (w *Worker) Stop() {
	if w.state.CompareAndSwap(workerRunning, workerStopping) {
		w.wake()
		<-w.stopped
		// Events posted while the worker was stopping are run by their
		// callers once they see w.stopped closed.
		return
	}
	w.state.CompareAndSwap(workerNew, workerStopped)
}

// Close stops the worker, waits up to DrainTimeout for the TX rings to
// drain, closes every port's socket with the sharers of the UMEM before
// its owner, and unmaps the UMEM. Each socket's rings are unmapped
// before its descriptor is closed.
//
// Close is idempotent. Unmapping the UMEM fails while a socket that was
// never added as a port is still open, so a later call retries only
// that step.
func (w *Worker) Close() error {
	w.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state.Load() == workerClosed {
		return w.umem.Close()
	}
	w.drainTx(DrainTimeout)

	var errs []error
	all := append([]*Port(nil), w.ports...)
	all = append(all, w.retired...)
	all = append(all, w.detached...)
	slices.SortStableFunc(all, func(a, b *Port) int {
		return cmpBool(a != nil && a.sock.isOwner(), b != nil && b.sock.isOwner())
	})
	for _, p := range all {
		if p == nil {
			continue
		}
		for _, d := range p.out {
			w.umem.Release(d.Addr)
			p.Stats.TxDropped.inc()
		}
		p.out = p.out[:0]
		p.removed = true
		if err := p.sock.close(); err != nil {
			errs = append(errs, err)
		}
		w.umem.reclaim(uint32(p.id))
	}
	w.ports = nil
	w.retired = nil
	w.detached = nil
	w.dirty = w.dirty[:0]
	w.publish()
	w.state.Store(workerClosed)
	if w.eventFd >= 0 {
		if err := unix.Close(w.eventFd); err != nil {
			errs = append(errs, fmt.Errorf("close worker eventfd: %w", err))
		}
		w.eventFd = -1
	}
	if err := w.umem.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// drainTx transmits the queued frames and kicks the ports until their
// TX rings are empty or the timeout passes. The worker is not running.
func (w *Worker) drainTx(timeout time.Duration) {
	w.flush()
	deadline := time.Now().Add(timeout)
	for {
		pending := false
		for _, p := range w.ports {
			if p == nil {
				continue
			}
			p.reap(w.umem)
			p.kick(true)
			if p.sock.tx.pending() > 0 {
				pending = true
			}
		}
		if !pending || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
