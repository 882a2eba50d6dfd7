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
}

// DefaultSpinPolls keeps a worker spinning for roughly 100 µs to 1 ms of
// empty polls before it sleeps, depending on the number of ports.
const DefaultSpinPolls = 2000

// WorkerStats are a worker's own counters.
type WorkerStats struct {
	Loops, EmptyPolls, Sleeps, Wakeups counter
	// Busy accumulates nanoseconds spent on loops that moved frames.
	BusyNanos counter
}

type eventKind int

const (
	eventAddPort eventKind = iota
	eventRemovePort
	eventCall
)

type event struct {
	kind eventKind
	port *Port
	id   PortID
	fn   func(*Worker)
	done chan error
}

// Worker polls a set of AF_XDP sockets that share one UMEM, on one
// goroutine locked to an OS thread.
type Worker struct {
	cfg     WorkerConfig
	umem    *Umem
	handler Handler

	ports     []*Port
	retired   []*Port
	published atomic.Pointer[[]*Port]
	dirty     []*Port
	rx        [BatchSize]Desc
	pollFds   []unix.PollFd

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

// AddPort hands an open socket to the worker, which fills its fill ring
// and starts polling it.
func (w *Worker) AddPort(s *Socket, cfg PortConfig) (*Port, error) {
	if s.umem != w.umem {
		return nil, fmt.Errorf("add port %s to worker %d: socket uses another UMEM", cfg.Name, w.cfg.ID)
	}
	target := cfg.FillTarget
	if target == 0 || target > s.cfg.Rings.Fill {
		target = s.cfg.Rings.Fill
	}
	p := &Port{cfg: cfg, sock: s, fillTarget: target, out: make([]Desc, 0, BatchSize)}
	err := w.do(event{kind: eventAddPort, port: p})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RemovePort stops polling a port, closes its socket and returns the
// frames it held to the free stack. Remove the socket from the XSKMAP
// first, so that the kernel no longer steers frames to it.
func (w *Worker) RemovePort(p *Port) error {
	return w.do(event{kind: eventRemovePort, id: p.id, port: p})
}

// Call runs fn on the worker's goroutine between two batches and waits
// for it.
func (w *Worker) Call(fn func(*Worker)) error {
	return w.do(event{kind: eventCall, fn: fn})
}

// do runs an event on the worker: directly when the worker is not
// running, else through the event ring, waiting for the result.
func (w *Worker) do(ev event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state.Load() {
	case workerNew, workerStopped:
		return w.handle(ev)
	}
	ev.done = make(chan error, 1)
	if !w.events.Enqueue(ev) {
		return fmt.Errorf("worker %d event ring full", w.cfg.ID)
	}
	w.wake()
	select {
	case err := <-ev.done:
		return err
	case <-w.stopped:
		// The worker stopped before reaching the event; run it here,
		// since nothing else touches the worker now.
		select {
		case err := <-ev.done:
			return err
		default:
		}
		return w.handle(ev)
	}
}

func (w *Worker) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(w.eventFd, one[:])
}

func (w *Worker) handle(ev event) error {
	switch ev.kind {
	case eventAddPort:
		p := ev.port
		id := -1
		for i, q := range w.ports {
			if q == nil {
				id = i
				break
			}
		}
		if id < 0 {
			id = len(w.ports)
			w.ports = append(w.ports, nil)
		}
		if id > socketMask {
			return fmt.Errorf("add port %s to worker %d: too many ports", p.cfg.Name, w.cfg.ID)
		}
		p.id = PortID(id)
		w.ports[id] = p
		p.refill(w.umem)
		w.publish()
		return nil
	case eventRemovePort:
		if int(ev.id) >= len(w.ports) || w.ports[ev.id] != ev.port {
			return fmt.Errorf("remove port %s from worker %d: not a port of this worker", ev.port.cfg.Name, w.cfg.ID)
		}
		p := ev.port
		for _, d := range p.out {
			w.umem.Release(d.Addr)
			p.Stats.TxDropped.inc()
		}
		p.out = p.out[:0]
		w.ports[ev.id] = nil
		w.publish()
		if p.sock.isOwner() {
			// The owner's rings keep their frames until Close: a
			// zero-copy driver may still write into frames on its fill
			// ring, and later sockets bind through its descriptor.
			w.retired = append(w.retired, p)
			return nil
		}
		err := p.sock.close()
		w.umem.reclaim(uint32(p.id))
		return err
	case eventCall:
		ev.fn(w)
		return nil
	}
	return fmt.Errorf("unknown worker event %d", ev.kind)
}

// Transmit queues a held frame for transmission on port out. Frames to a
// port that no longer exists are released.
func (w *Worker) Transmit(out PortID, d Desc) {
	if int(out) >= len(w.ports) || w.ports[out] == nil {
		w.umem.Release(d.Addr)
		return
	}
	p := w.ports[out]
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
		return fmt.Errorf("run worker %d: already started", w.cfg.ID)
	}
	defer close(w.stopped)
	defer w.state.Store(workerStopped)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(w.cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pin worker %d to CPU %d: %w", w.cfg.ID, w.cfg.CPU, err)
		}
	}

	idle := 0
	now := time.Now()
	lastTick := now
	lastStats := now
	for w.state.Load() == workerRunning {
		w.drainEvents()
		start := now
		moved := w.pollOnce()
		w.Stats.Loops.inc()
		now = time.Now()
		if moved {
			idle = 0
			w.Stats.BusyNanos.add(uint64(now.Sub(start)))
		} else {
			idle++
			w.Stats.EmptyPolls.inc()
		}
		if now.Sub(lastTick) >= TickInterval {
			lastTick = now
			w.handler.Tick(w, now)
			w.flush()
			w.kickAll()
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
			w.sleep()
			now = time.Now()
			lastTick = now
			w.handler.Tick(w, now)
			w.flush()
			w.kickAll()
		}
	}
	return nil
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
		p.refill(u)
		n := p.receive(u, w.rx[:])
		if n == 0 {
			continue
		}
		moved = true
		w.handler.Process(w, p.id, w.rx[:n])
		w.flush()
	}
	// Frames queued outside Process, by Tick or Call, go out now too.
	w.flush()
	w.kickAll()
	return moved
}

func (w *Worker) kickAll() {
	for _, p := range w.ports {
		if p != nil {
			p.kick()
		}
	}
}

// sleep blocks in poll(2) until a socket has frames, an event arrives or
// the sleep timeout passes.
func (w *Worker) sleep() {
	w.pollFds = w.pollFds[:0]
	w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(w.eventFd), Events: unix.POLLIN})
	for _, p := range w.ports {
		if p != nil && p.sock.fake == nil {
			w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(p.sock.fd), Events: unix.POLLIN})
		}
	}
	w.Stats.Sleeps.inc()
	n, err := unix.Poll(w.pollFds, int(w.cfg.SleepTimeout/time.Millisecond))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return
	}
	if n > 0 {
		w.Stats.Wakeups.inc()
	}
	if w.pollFds[0].Revents&unix.POLLIN != 0 {
		var buf [8]byte
		_, _ = unix.Read(w.eventFd, buf[:])
	}
}

func (w *Worker) drainEvents() {
	for {
		ev, ok := w.events.Dequeue()
		if !ok {
			return
		}
		ev.done <- w.handle(ev)
	}
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

// Close stops the worker, closes every port's socket in reverse order of
// addition (the UMEM owner last), and unmaps the UMEM. It is idempotent.
func (w *Worker) Close() error {
	w.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	// Sharing sockets close before the owner, which was added first or
	// retired.
	all := append([]*Port(nil), w.ports...)
	all = append(all, w.retired...)
	slices.SortStableFunc(all, func(a, b *Port) int {
		return cmpBool(a != nil && a.sock.isOwner(), b != nil && b.sock.isOwner())
	})
	for _, p := range all {
		if p == nil {
			continue
		}
		for _, d := range p.out {
			w.umem.Release(d.Addr)
		}
		p.out = p.out[:0]
		if err := p.sock.close(); err != nil {
			errs = append(errs, err)
		}
		w.umem.reclaim(uint32(p.id))
	}
	w.ports = nil
	w.retired = nil
	w.publish()
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
