package pmd

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// BatchSize is the largest number of frames moved per ring operation.
const BatchSize = 64

// PortID identifies a port within one worker.
type PortID int

// counter is a statistic with one writer, the worker, and any number of
// readers.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) inc()         { c.v.Store(c.v.Load() + 1) }
func (c *counter) set(n uint64) { c.v.Store(n) }

// Load returns the counter's value.
func (c *counter) Load() uint64 { return c.v.Load() }

// PortStats are a port's counters: the driver's own and the kernel's
// XDP_STATISTICS, refreshed about once a second.
type PortStats struct {
	RxFrames, RxBytes counter
	TxFrames, TxBytes counter
	// Batches counts receive calls that returned frames.
	Batches counter
	// TxRingFull counts frames dropped because the TX ring had no room.
	TxRingFull counter
	// TxDropped counts frames released because the port was going away.
	TxDropped counter
	// FillStarved counts refills cut short because no frame was free.
	FillStarved counter
	// Kicks counts sendto calls that started transmission; KickRetries
	// those that returned EAGAIN, EBUSY or ENOBUFS ("call again").
	Kicks, KickRetries counter
	// KickErrors counts sendto failures such as ENETDOWN or ENXIO.
	KickErrors counter
	// RxWakeups counts recvfrom calls made because the driver asked for
	// a wakeup on the fill ring.
	RxWakeups counter

	// Kernel counters from XDP_STATISTICS.
	KernRxDropped, KernRxInvalid, KernTxInvalid    counter
	KernRxRingFull, KernFillEmpty, KernTxRingEmpty counter
}

// PortConfig sets how a worker drives a socket.
type PortConfig struct {
	// Name identifies the port in counters and logs.
	Name string
	// FillTarget is how many frames the worker keeps on the fill ring;
	// 0 means the whole ring.
	FillTarget uint32
}

// Port is one socket as a worker drives it.
type Port struct {
	id         PortID
	cfg        PortConfig
	sock       *Socket
	fillTarget uint32
	out        []Desc
	dirty      bool
	Stats      PortStats
}

// ID returns the port's identifier within its worker.
func (p *Port) ID() PortID { return p.id }

// Name returns the port's name.
func (p *Port) Name() string { return p.cfg.Name }

// Socket returns the port's socket.
func (p *Port) Socket() *Socket { return p.sock }

// reap moves completed transmissions back to the free stack.
func (p *Port) reap(u *Umem) {
	c := p.sock.comp
	n := c.available(BatchSize)
	if n == 0 {
		return
	}
	for i := uint32(0); i < n; i++ {
		u.completed(c.get(i))
	}
	c.release(n)
}

// refill tops the fill ring up to the port's target.
func (p *Port) refill(u *Umem) {
	f := p.sock.fill
	inRing := f.size - f.free(f.size)
	if inRing >= p.fillTarget {
		return
	}
	want := p.fillTarget - inRing
	n := uint32(0)
	for ; n < want; n++ {
		addr, ok := u.takeForRx(uint32(p.id))
		if !ok {
			p.Stats.FillStarved.inc()
			break
		}
		f.put(n, addr)
	}
	if n > 0 {
		f.submit(n)
		if p.sock.fake == nil && f.needWakeup() {
			p.Stats.RxWakeups.inc()
			_ = wakeRx(p.sock.fd)
		}
	}
}

// receive takes up to len(descs) frames off the RX ring.
func (p *Port) receive(u *Umem, descs []Desc) int {
	r := p.sock.rx
	n := r.available(uint32(len(descs)))
	if n == 0 {
		return 0
	}
	if n > uint32(len(descs)) {
		n = uint32(len(descs))
	}
	var bytes uint64
	for i := uint32(0); i < n; i++ {
		d := r.get(i)
		u.received(d.Addr, uint32(p.id))
		descs[i] = d
		bytes += uint64(d.Len)
	}
	r.release(n)
	p.Stats.Batches.inc()
	p.Stats.RxFrames.add(uint64(n))
	p.Stats.RxBytes.add(bytes)
	return int(n)
}

// transmit puts the queued frames on the TX ring and releases those
// that do not fit.
func (p *Port) transmit(u *Umem) {
	t := p.sock.tx
	n := uint32(len(p.out))
	room := t.free(n)
	if room > n {
		room = n
	}
	var bytes uint64
	for i := uint32(0); i < room; i++ {
		d := p.out[i]
		u.submitted(d.Addr, uint32(p.id))
		t.put(i, d)
		bytes += uint64(d.Len)
	}
	if room > 0 {
		t.submit(room)
		p.Stats.TxFrames.add(uint64(room))
		p.Stats.TxBytes.add(bytes)
	}
	for _, d := range p.out[room:] {
		u.Release(d.Addr)
		p.Stats.TxRingFull.inc()
	}
	p.out = p.out[:0]
}

// kick starts transmission while descriptors wait on the TX ring. In
// copy mode the kernel transmits only inside sendto, and sets the TX
// ring's need_wakeup flag all the time, so the flag alone would mean a
// system call on every loop.
func (p *Port) kick() {
	t := p.sock.tx
	if t.pending() == 0 {
		return
	}
	if p.sock.fake != nil {
		p.sock.fake.transmit()
		p.Stats.Kicks.inc()
		return
	}
	if p.sock.zerocopy && !t.needWakeup() {
		return
	}
	err := kick(p.sock.fd)
	switch {
	case err == nil:
		p.Stats.Kicks.inc()
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY), errors.Is(err, unix.ENOBUFS):
		p.Stats.KickRetries.inc()
	default:
		p.Stats.KickErrors.inc()
	}
}

// refreshKernelStats copies the kernel's XDP_STATISTICS into the port's
// counters.
func (p *Port) refreshKernelStats() {
	if p.sock.fake != nil {
		return
	}
	st, err := p.sock.Statistics()
	if err != nil {
		return
	}
	p.Stats.KernRxDropped.set(st.Rx_dropped)
	p.Stats.KernRxInvalid.set(st.Rx_invalid_descs)
	p.Stats.KernTxInvalid.set(st.Tx_invalid_descs)
	p.Stats.KernRxRingFull.set(st.Rx_ring_full)
	p.Stats.KernFillEmpty.set(st.Rx_fill_ring_empty_descs)
	p.Stats.KernTxRingEmpty.set(st.Tx_ring_empty_descs)
}
