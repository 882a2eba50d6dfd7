package pmd

import (
	"errors"
	"math/bits"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// BatchSize is the largest number of frames moved per ring operation.
const BatchSize = 64

// RxBatchBuckets is the number of buckets of PortStats.RxBatchSizes.
const RxBatchBuckets = 7 // bits.Len(BatchSize)

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
// XDP_STATISTICS, refreshed about once a second. A port is one queue of
// one interface.
type PortStats struct {
	// RxFrames and RxBytes count the frames handed to the handler.
	RxFrames, RxBytes counter
	// TxFrames and TxBytes count the frames put on the TX ring.
	TxFrames, TxBytes counter
	// Batches counts receive calls that took descriptors off the RX
	// ring; RxBatchSizes is their histogram: bucket i counts batches of
	// 2^i to 2^(i+1)-1 descriptors, so the last one counts full batches
	// of BatchSize.
	Batches      counter
	RxBatchSizes [RxBatchBuckets]counter
	// TxBatches counts flushes that put frames on the TX ring;
	// TxFrames/TxBatches is the average transmit batch.
	TxBatches counter
	// RxMultiBuffer counts multi-buffer frames dropped: their first
	// descriptor carried XDP_PKT_CONTD. The frames of all their
	// descriptors go back to the free stack.
	RxMultiBuffer counter
	// RxOversize counts received frames dropped because they reached into
	// the tailroom that SocketConfig.Tailroom reserves.
	RxOversize counter
	// TxRingFull counts frames dropped because the TX ring had no room.
	TxRingFull counter
	// TxDropped counts frames released because the port was going away.
	TxDropped counter
	// TxInvalid counts frames released instead of transmitted because
	// their descriptor is one the kernel rejects: empty, running past
	// the end of its UMEM frame, or with options set. The kernel skips
	// such descriptors without completing them, so their frames would
	// never come back.
	TxInvalid counter
	// FillStarved counts refills cut short because no frame was free.
	FillStarved counter
	// Kicks counts sendto calls that started transmission; KickRetries
	// those that returned EAGAIN, EBUSY or ENOBUFS ("call again").
	Kicks, KickRetries counter
	// KickErrors counts sendto failures such as ENETDOWN or ENXIO.
	KickErrors counter
	// RxWakeups counts recvfrom calls made because the driver asked for
	// a wakeup on the fill ring; RxWakeupErrors those that failed.
	RxWakeups, RxWakeupErrors counter

	// Kernel counters from XDP_STATISTICS.
	KernRxDropped, KernRxInvalid, KernTxInvalid    counter
	KernRxRingFull, KernFillEmpty, KernTxRingEmpty counter
}

// PortConfig sets how a worker drives a socket.
type PortConfig struct {
	// Name identifies the port in counters and logs.
	Name string
	// FillTarget is how many frames the port keeps for receiving, on its
	// fill and RX rings together; 0 means the size of the fill ring.
	FillTarget uint32
}

// Port is one socket as a worker drives it.
type Port struct {
	id         PortID
	cfg        PortConfig
	sock       *Socket
	fillTarget uint32
	// maxEnd is the largest offset within a UMEM frame that a received
	// frame may end at: the frame size minus the tailroom.
	maxEnd uint32
	out    []Desc
	dirty  bool
	// inMultiBuffer is set while the descriptors of a dropped
	// multi-buffer frame are still arriving.
	inMultiBuffer bool
	removed       bool
	linkDown      atomic.Bool
	Stats         PortStats
}

// ID returns the port's identifier within its worker.
func (p *Port) ID() PortID { return p.id }

// Name returns the port's name.
func (p *Port) Name() string { return p.cfg.Name }

// Socket returns the port's socket.
func (p *Port) Socket() *Socket { return p.sock }

// LinkDown reports whether the port's last kick or fill-ring wakeup
// failed with ENETDOWN (interface down) or ENXIO (interface gone). A
// later successful kick, a completed transmission or a received frame
// clears it. It is safe to call from any goroutine.
//
// The flag only changes when the worker makes a system call on the
// socket: a port with nothing to transmit does not notice a link that
// goes down. Watch netlink for the interface's state.
func (p *Port) LinkDown() bool { return p.linkDown.Load() }

// commitment returns how many frames the port may keep away from the
// free stack: the frames it keeps for receiving and a full TX ring.
func (p *Port) commitment() uint32 {
	return p.fillTarget + p.sock.cfg.Rings.Tx
}

// reap moves completed transmissions back to the free stack.
func (p *Port) reap(u *Umem) {
	c := p.sock.comp
	n := c.available(BatchSize)
	if n == 0 {
		return
	}
	for i := uint32(0); i < n; i++ {
		u.completed(c.get(i), uint32(p.id))
	}
	c.release(n)
	// The kernel also transmits from poll(2), so a link that came back
	// may show itself by completions alone.
	if p.linkDown.Load() {
		p.linkDown.Store(false)
	}
}

// refill tops the fill ring up so that the fill and RX rings together
// hold the port's fill target.
func (p *Port) refill(u *Umem) {
	f := p.sock.fill
	inRings := f.size - f.free(f.size) + p.sock.rx.queued()
	if inRings >= p.fillTarget {
		return
	}
	// The fill ring has room for want: it is at least fillTarget long,
	// and inRings counts the frames on it.
	want := p.fillTarget - inRings
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
	}
}

// wakeRx makes the recvfrom call that a zero-copy driver requests
// through the fill ring's need_wakeup flag. In copy mode the kernel
// never sets the flag.
func (p *Port) wakeRx() {
	if p.sock.fake != nil || !p.sock.fill.needWakeup() {
		return
	}
	p.Stats.RxWakeups.inc()
	if err := wakeRx(p.sock.fd); err != nil && !retryable(err) {
		p.Stats.RxWakeupErrors.inc()
		p.noteLinkError(err)
	}
}

// receive takes up to len(descs) descriptors off the RX ring and
// returns how many frames it put in descs for the handler, and how many
// descriptors it took. Multi-buffer frames and frames that reach into
// the tailroom are dropped and counted.
func (p *Port) receive(u *Umem, descs []Desc) (kept, taken int) {
	r := p.sock.rx
	n := r.available(uint32(len(descs)))
	if n == 0 {
		return 0, 0
	}
	if n > uint32(len(descs)) {
		n = uint32(len(descs))
	}

	var bytes uint64
	for i := uint32(0); i < n; i++ {
		d := r.get(i)
		u.received(d.Addr, uint32(p.id))
		more := d.Options&unix.XDP_PKT_CONTD != 0
		switch {
		case p.inMultiBuffer || more:
			// A descriptor with XDP_PKT_CONTD is followed by the rest of
			// its frame, up to the first descriptor without the flag.
			if !p.inMultiBuffer {
				p.Stats.RxMultiBuffer.inc()
			}
			p.inMultiBuffer = more
			u.Release(d.Addr)
		case uint64(u.Headroom(d.Addr))+uint64(d.Len) > uint64(p.maxEnd):
			p.Stats.RxOversize.inc()
			u.Release(d.Addr)
		default:
			descs[kept] = d
			kept++
			bytes += uint64(d.Len)
		}
	}
	r.release(n)

	p.Stats.Batches.inc()
	p.Stats.RxBatchSizes[bits.Len32(n)-1].inc()
	p.Stats.RxFrames.add(uint64(kept))
	p.Stats.RxBytes.add(bytes)
	if p.linkDown.Load() {
		p.linkDown.Store(false)
	}
	return kept, int(n)
}

// validTx reports whether the kernel accepts d on a TX ring: a
// non-empty frame inside one UMEM frame, with no options. The kernel
// checks the same (xp_aligned_validate_desc in Linux 6.18).
func validTx(u *Umem, d Desc) bool {
	return d.Len > 0 && d.Options == 0 && d.Addr < uint64(len(u.area)) &&
		uint64(u.Headroom(d.Addr))+uint64(d.Len) <= uint64(u.frameSize)
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
		p.Stats.TxBatches.inc()
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
// system call on every loop. A port whose link is down is kicked only
// when force is set.
func (p *Port) kick(force bool) {
	t := p.sock.tx
	if t.pending() == 0 {
		return
	}
	if !force && p.linkDown.Load() {
		return
	}
	var err error
	if p.sock.fake != nil {
		err = p.sock.fake.transmit()
	} else {
		if p.sock.zerocopy && !t.needWakeup() {
			return
		}
		err = kick(p.sock.fd)
	}
	switch {
	case err == nil:
		p.Stats.Kicks.inc()
	case retryable(err):
		p.Stats.KickRetries.inc()
	default:
		p.Stats.KickErrors.inc()
		p.noteLinkError(err)
		return
	}
	if p.linkDown.Load() {
		p.linkDown.Store(false)
	}
}

// retryable reports whether a sendto or recvfrom error means "call
// again": EAGAIN when a kick's budget ran out or the completion ring is
// full, EBUSY when the device dropped a frame, ENOBUFS when no skb could
// be allocated.
func retryable(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOBUFS)
}

// noteLinkError sets the link-down flag when err reports that the
// interface is down (ENETDOWN) or gone (ENXIO).
func (p *Port) noteLinkError(err error) {
	if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENXIO) {
		p.linkDown.Store(true)
	}
}

// refreshKernelStats copies the kernel's XDP_STATISTICS into the port's
// counters.
func (p *Port) refreshKernelStats() {
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
