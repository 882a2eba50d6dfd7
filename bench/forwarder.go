package bench

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/pmd/xdpprog"
)

// Forwarder is a pmd.Handler that transmits every frame received on port
// In out of port Out, unchanged: the least work an AF_XDP dataplane can
// do per frame. Frames from other ports are released.
type Forwarder struct {
	In, Out pmd.PortID
}

// Process implements pmd.Handler.
func (f *Forwarder) Process(w *pmd.Worker, in pmd.PortID, frames []pmd.Desc) {
	if in != f.In {
		for _, d := range frames {
			w.Release(d)
		}
		return
	}
	for _, d := range frames {
		w.Transmit(f.Out, d)
	}
}

// Tick implements pmd.Handler.
func (f *Forwarder) Tick(*pmd.Worker, time.Time) {}

// Dropper is a pmd.Handler that releases every frame it receives: the
// receive cost of an AF_XDP dataplane alone.
type Dropper struct{}

// Process implements pmd.Handler.
func (Dropper) Process(w *pmd.Worker, _ pmd.PortID, frames []pmd.Desc) {
	for _, d := range frames {
		w.Release(d)
	}
}

// Tick implements pmd.Handler.
func (Dropper) Tick(*pmd.Worker, time.Time) {}

// Encapsulator is a pmd.Handler that does the per-frame work of vnet's
// encapsulation path with the overlay/wire functions. It checks the
// Ethernet header and finds the underlay address of the destination MAC.
// It then completes a partial TCP or UDP checksum, writes the 64-byte
// VUDP headers into the headroom and transmits on Out. Frames with an
// unknown destination are released. It replaces the overlay
// pipeline, whose types are internal to its package, in benchmarks that
// run several workers at once.
type Encapsulator struct {
	In, Out pmd.PortID
	Umem    *pmd.Umem
	// Routes maps inner destination MACs to underlay addresses; it must
	// not change while the worker runs.
	Routes map[wire.MAC][4]byte
	// Outer is the template of the outer headers; Dst is set per frame.
	Outer wire.Outer
	// Unknown counts released frames with no route.
	Unknown uint64
}

// Process implements pmd.Handler.
func (e *Encapsulator) Process(w *pmd.Worker, in pmd.PortID, frames []pmd.Desc) {
	for _, d := range frames {
		if in != e.In {
			w.Release(d)
			continue
		}
		frame := e.Umem.Frame(d)
		eth, ok := wire.ParseEthernet(frame)
		if !ok || e.Umem.Headroom(d.Addr) < wire.EncapLen {
			e.Unknown++
			w.Release(d)
			continue
		}
		dst, ok := e.Routes[eth.Dst()]
		if !ok {
			e.Unknown++
			w.Release(d)
			continue
		}
		wire.CompleteL4Checksum(frame)
		o := e.Outer
		o.Dst = dst
		start := d.Addr - wire.EncapLen
		wire.PutVUDP(e.Umem.Bytes(start, wire.EncapLen), &o, len(frame))
		w.Transmit(e.Out, pmd.Desc{Addr: start, Len: d.Len + wire.EncapLen})
	}
}

// Tick implements pmd.Handler.
func (e *Encapsulator) Tick(*pmd.Worker, time.Time) {}

// XSKConfig describes an AF_XDP dataplane for a baseline measurement.
type XSKConfig struct {
	// Netns contains the interfaces.
	Netns *Netns
	// In receives the traffic. Out, if set, is where the forwarder sends
	// it; with Out empty every frame is released (rx-drop).
	In, Out string
	// CPU is the CPU the worker's thread is pinned to.
	CPU int
}

// XSKDataplane is a pmd worker with the product's XDP program steering
// every frame of In to a socket on queue 0, and a Forwarder or Dropper
// as its handler. Sockets are bound in copy mode, the only mode veth
// supports.
type XSKDataplane struct {
	prog    *xdpprog.Program
	attach  *xdpprog.Attachment
	worker  *pmd.Worker
	in, out *pmd.Port
	done    chan error
}

// Rings of the baseline's sockets: the pmd defaults on the receiving
// port, and a token fill ring on the sending port, which receives
// nothing.
var (
	xskInRings  = pmd.DefaultRingConfig
	xskOutRings = pmd.RingConfig{Fill: 64, Completion: 2048, Rx: 64, Tx: 2048}
)

// StartXSK opens the sockets, attaches the program and starts the worker.
func StartXSK(cfg XSKConfig) (*XSKDataplane, error) {
	x := &XSKDataplane{}
	err := cfg.Netns.Do(func() error { return x.setup(cfg) })
	if err != nil {
		x.Close()
		return nil, err
	}
	x.done = make(chan error, 1)
	go func() { x.done <- x.worker.Run() }()
	return x, nil
}

// setup runs inside the namespace.
func (x *XSKDataplane) setup(cfg XSKConfig) error {
	inIf, err := net.InterfaceByName(cfg.In)
	if err != nil {
		return fmt.Errorf("find interface %s: %w", cfg.In, err)
	}
	prog, err := xdpprog.Load(xdpprog.Options{})
	if err != nil {
		return err
	}
	x.prog = prog
	u, err := pmd.NewUmem(pmd.DefaultUmemConfig)
	if err != nil {
		return err
	}
	var h pmd.Handler = Dropper{}
	fwd := &Forwarder{}
	if cfg.Out != "" {
		h = fwd
	}
	w, err := pmd.NewWorker(pmd.WorkerConfig{ID: 0, CPU: cfg.CPU}, u, h)
	if err != nil {
		u.Close()
		return err
	}
	x.worker = w
	s, err := pmd.Open(u, pmd.SocketConfig{Ifindex: inIf.Index, Queue: 0, Rings: xskInRings, Mode: pmd.BindCopy})
	if err != nil {
		return err
	}
	if x.in, err = w.AddPort(s, pmd.PortConfig{Name: cfg.In}); err != nil {
		return err
	}
	fwd.In = x.in.ID()
	if cfg.Out != "" {
		outIf, err := net.InterfaceByName(cfg.Out)
		if err != nil {
			return fmt.Errorf("find interface %s: %w", cfg.Out, err)
		}
		s, err := pmd.Open(u, pmd.SocketConfig{Ifindex: outIf.Index, Queue: 0, Rings: xskOutRings})
		if err != nil {
			return err
		}
		if x.out, err = w.AddPort(s, pmd.PortConfig{Name: cfg.Out, FillTarget: xskOutRings.Fill}); err != nil {
			return err
		}
		fwd.Out = x.out.ID()
	}
	if err := prog.SetSocket(0, x.in.Socket().Fd()); err != nil {
		return err
	}
	if err := prog.SetPort(inIf.Index, xdpprog.Port{Kind: xdpprog.KindDevice, Base: 0, Queues: 1}); err != nil {
		return err
	}
	x.attach, err = prog.Attach(inIf.Index, xdpprog.ModeNative)
	return err
}

// Frames returns the frames received on the input port; it implements
// Source for rx-drop.
func (x *XSKDataplane) Frames() (uint64, error) {
	return x.in.Stats.RxFrames.Load(), nil
}

// Counters returns the ports' counters, the kernel's XDP_STATISTICS
// included, by "port/name".
func (x *XSKDataplane) Counters() map[string]uint64 {
	m := map[string]uint64{}
	for _, p := range []*pmd.Port{x.in, x.out} {
		if p == nil {
			continue
		}
		s := &p.Stats
		for name, v := range map[string]uint64{
			"rx_frames":                    s.RxFrames.Load(),
			"tx_frames":                    s.TxFrames.Load(),
			"tx_ring_full":                 s.TxRingFull.Load(),
			"fill_starved":                 s.FillStarved.Load(),
			"kick_retries":                 s.KickRetries.Load(),
			"kick_errors":                  s.KickErrors.Load(),
			"xdp_rx_dropped":               s.KernRxDropped.Load(),
			"xdp_rx_ring_full":             s.KernRxRingFull.Load(),
			"xdp_rx_fill_ring_empty_descs": s.KernFillEmpty.Load(),
			"xdp_tx_ring_empty_descs":      s.KernTxRingEmpty.Load(),
		} {
			m[p.Name()+"/"+name] = v
		}
	}
	return m
}

// Close stops the worker, detaches the program and closes the sockets.
// It is idempotent.
func (x *XSKDataplane) Close() error {
	var errs []error
	if x.worker != nil {
		x.worker.Stop()
		if x.done != nil {
			errs = append(errs, <-x.done)
			x.done = nil
		}
	}
	if x.attach != nil {
		errs = append(errs, x.attach.Close())
		x.attach = nil
	}
	if x.worker != nil {
		errs = append(errs, x.worker.Close())
		x.worker = nil
	}
	if x.prog != nil {
		errs = append(errs, x.prog.Close())
		x.prog = nil
	}
	return errors.Join(errs...)
}
