package pmd

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// The control methods (AddPort, RemovePort, Call) reach a running
// worker as events on its MPSC ring, and the worker runs them between
// two batches. While the worker does not run, the caller runs them
// itself, under the worker's mutex.

type eventKind int

const (
	eventAddPort eventKind = iota
	eventRemovePort
	eventReclaim
	eventCall
)

type event struct {
	kind eventKind
	port *Port
	id   PortID
	fn   func(*Worker)
	done chan error
}

// AddPort hands an open socket to the worker, which fills its fill ring
// and starts polling it. The worker owns the socket from then on and
// closes it in RemovePort or Close.
//
// AddPort fails when the worker is stopped or closed, when the socket
// is closed, and when the port's frames would overcommit the UMEM. Each
// port may keep its fill target and a full TX ring of frames away from
// the free stack, and the worker holds up to a batch in flight. The sum
// over all ports, retired owners included, must not exceed the UMEM's
// frames.
//
// When it fails, AddPort closes the socket, unless the socket uses
// another UMEM or is already a port.
//
// Control methods (AddPort, RemovePort, Call) must not be called from
// the worker's goroutine: from a Handler or from a function run by
// Call.
func (w *Worker) AddPort(s *Socket, cfg PortConfig) (*Port, error) {
	if s.umem != w.umem {
		return nil, fmt.Errorf("add port %s to worker %d: socket uses another UMEM", cfg.Name, w.cfg.ID)
	}
	target := cfg.FillTarget
	if target == 0 || target > s.cfg.Rings.Fill {
		target = s.cfg.Rings.Fill
	}
	p := &Port{
		cfg:        cfg,
		sock:       s,
		fillTarget: target,
		maxEnd:     w.umem.frameSize - s.cfg.Tailroom,
		out:        make([]Desc, 0, BatchSize),
	}
	if err := w.do(event{kind: eventAddPort, port: p}); err != nil {
		return nil, err
	}
	return p, nil
}

// RemovePort stops polling a port, closes its socket and returns the
// frames it held to the free stack. Remove the socket from the XSKMAP
// first, so that the kernel no longer steers frames to it. Removing a
// port twice is an error.
//
// The worker only stops polling the port. The socket is closed on the
// caller's goroutine, because closing an AF_XDP socket can wait for an
// RCU grace period, tens of milliseconds in which the worker would not
// refill the fill rings of its other ports. A second event then returns
// the socket's frames.
func (w *Worker) RemovePort(p *Port) error {
	if err := w.do(event{kind: eventRemovePort, id: p.id, port: p}); err != nil {
		return err
	}
	if p.sock.isOwner() {
		return nil
	}
	err := p.sock.close()
	if rerr := w.do(event{kind: eventReclaim, port: p}); rerr != nil && err == nil {
		err = rerr
	}
	return err
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
	case workerClosed:
		if ev.kind == eventAddPort && !ev.port.sock.inWorker {
			_ = ev.port.sock.close()
		}
		return fmt.Errorf("%s: worker closed", w.describe(ev))
	case workerNew, workerStopped:
		return w.handle(ev)
	}
	ev.done = make(chan error, 1)
	if !w.events.Enqueue(ev) {
		if ev.kind == eventAddPort && !ev.port.sock.inWorker {
			_ = ev.port.sock.close()
		}
		return fmt.Errorf("%s: event ring full", w.describe(ev))
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

// describe names the operation of an event for its errors.
func (w *Worker) describe(ev event) string {
	switch ev.kind {
	case eventAddPort:
		return fmt.Sprintf("add port %s to worker %d", ev.port.cfg.Name, w.cfg.ID)
	case eventRemovePort, eventReclaim:
		return fmt.Sprintf("remove port %s from worker %d", ev.port.cfg.Name, w.cfg.ID)
	}
	return fmt.Sprintf("call on worker %d", w.cfg.ID)
}

func (w *Worker) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(w.eventFd, one[:])
}

func (w *Worker) handle(ev event) error {
	switch ev.kind {
	case eventAddPort:
		err := w.addPort(ev.port)
		if err != nil && !ev.port.sock.inWorker {
			// The socket may hold the frame of a self-test, which only
			// this goroutine may return to the free stack.
			_ = ev.port.sock.close()
		}
		return err
	case eventRemovePort:
		return w.removePort(ev.port)
	case eventReclaim:
		w.reclaimPort(ev.port)
		return nil
	case eventCall:
		ev.fn(w)
		return nil
	}
	return fmt.Errorf("unknown worker event %d", ev.kind)
}

func (w *Worker) addPort(p *Port) error {
	s := p.sock
	switch w.state.Load() {
	case workerStopping, workerStopped:
		return fmt.Errorf("add port %s to worker %d: worker stopped", p.cfg.Name, w.cfg.ID)
	}
	if s.closed.Load() {
		return fmt.Errorf("add port %s to worker %d: socket closed", p.cfg.Name, w.cfg.ID)
	}
	if s.inWorker {
		return fmt.Errorf("add port %s to worker %d: the socket on %s is already a port", p.cfg.Name, w.cfg.ID, s.where)
	}
	id := w.freeID()
	if id >= selfTestSocket {
		return fmt.Errorf("add port %s to worker %d: too many ports", p.cfg.Name, w.cfg.ID)
	}
	if err := w.checkCommitment(p); err != nil {
		return err
	}

	if id == len(w.ports) {
		w.ports = append(w.ports, nil)
	}
	p.id = PortID(id)
	w.ports[id] = p
	s.inWorker = true
	if s.selfTestPending {
		// The self-test frame completes on this port's completion ring.
		w.umem.retag(selfTestSocket, uint32(id))
		s.selfTestPending = false
	}
	p.refill(w.umem)
	w.publish()
	return nil
}

// freeID returns the lowest free port ID. The ID of a retired port, or
// of a detached one whose frames are not reclaimed yet, is not free:
// frames are tagged with it.
func (w *Worker) freeID() int {
	for i, q := range w.ports {
		if q == nil && !w.isRetired(i) {
			return i
		}
	}
	return len(w.ports)
}

func (w *Worker) isRetired(id int) bool {
	for _, r := range w.retired {
		if int(r.id) == id {
			return true
		}
	}
	for _, r := range w.detached {
		if int(r.id) == id {
			return true
		}
	}
	return false
}

// checkCommitment fails when adding p would let the ports keep more
// frames away from the free stack than the UMEM has.
// ErrUmemFull is returned by AddPort when the frames that the worker's
// ports may hold at once would exceed its UMEM.
var ErrUmemFull = errors.New("port would overcommit the UMEM")

func (w *Worker) checkCommitment(p *Port) error {
	used := uint64(BatchSize)
	n := 0
	for _, q := range w.ports {
		if q != nil {
			used += uint64(q.commitment())
			n++
		}
	}
	for _, q := range w.retired {
		used += uint64(q.commitment())
		n++
	}
	for _, q := range w.detached {
		used += uint64(q.commitment())
		n++
	}
	need := uint64(p.commitment())
	if frames := uint64(w.umem.frames); used+need > frames {
		return fmt.Errorf("add port %s to worker %d: %w: the UMEM has %d frames, the port needs %d (fill target %d + tx ring %d), and %d ports and a batch in flight already need %d (use a larger UMEM, smaller rings or a lower fill target)",
			p.cfg.Name, w.cfg.ID, ErrUmemFull, frames, need, p.fillTarget, p.sock.cfg.Rings.Tx, n, used)
	}
	return nil
}

func (w *Worker) removePort(p *Port) error {
	if p.removed {
		return fmt.Errorf("remove port %s from worker %d: already removed", p.cfg.Name, w.cfg.ID)
	}
	if int(p.id) >= len(w.ports) || w.ports[p.id] != p {
		return fmt.Errorf("remove port %s from worker %d: not a port of this worker", p.cfg.Name, w.cfg.ID)
	}
	p.removed = true
	for _, d := range p.out {
		w.umem.Release(d.Addr)
		p.Stats.TxDropped.inc()
	}
	p.out = p.out[:0]
	w.ports[p.id] = nil
	w.publish()
	if p.sock.isOwner() {
		// The owner's rings keep their frames until Close: a
		// zero-copy driver may still write into frames on its fill
		// ring, and later sockets bind through its descriptor.
		w.retired = append(w.retired, p)
		return nil
	}
	// RemovePort closes the socket and sends an eventReclaim.
	w.detached = append(w.detached, p)
	return nil
}

// reclaimPort returns the frames of a detached port whose socket is
// closed, and frees its ID.
func (w *Worker) reclaimPort(p *Port) {
	for i, q := range w.detached {
		if q == p {
			w.detached = append(w.detached[:i:i], w.detached[i+1:]...)
			w.umem.reclaim(uint32(p.id))
			return
		}
	}
}

// drainEvents runs the pending control events and reports whether there
// were any.
func (w *Worker) drainEvents() bool {
	any := false
	for {
		ev, ok := w.events.Dequeue()
		if !ok {
			return any
		}
		any = true
		ev.done <- w.handle(ev)
	}
}
