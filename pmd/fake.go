package pmd

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FakeKernel plays the kernel's side of a socket whose rings live in
// ordinary memory, so that code above the socket layer runs in tests
// without privileges. It behaves like copy mode: frames are copied into
// fill-ring frames on Inject, and transmitted frames are copied out when
// the worker kicks the socket. Its knobs make it fail as a real kernel
// does: link down, device removed, descriptors rejected, a transmit
// budget per kick, multi-buffer frames.
//
// A FakeKernel is driven from the worker's goroutine (through kicks) and
// from the test, so tests call its methods only while the worker is not
// running, or from Handler callbacks and Worker.Call.
type FakeKernel struct {
	sock *Socket
	// spare contains frames taken from the fill ring that could not be
	// delivered because the RX ring was full. They are used first, as
	// the kernel's buffer pool does.
	spare []uint64
	sent  [][]byte
	// discard counts transmitted frames without keeping them.
	discard     bool
	count       int
	down        bool
	removed     bool
	multiBuffer bool
	rejectTx    int
	txBudget    int
	closed      bool

	// Counters comparable to XDP_STATISTICS. RxDropped counts frames
	// dropped because the link was down or the frame too large.
	RxDropped, RxRingFull, FillEmpty, TxInvalid uint64
}

// fakeRingLayout places the producer, consumer and flags words on their
// own cache lines, as the kernel does.
var fakeRingLayout = unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}

// NewFakeSocket returns a socket on u whose kernel side is simulated.
func NewFakeSocket(u *Umem, rings RingConfig) (*Socket, *FakeKernel, error) {
	return NewFakeSocketConfig(u, SocketConfig{Rings: rings})
}

// NewFakeSocketConfig returns a socket on u whose kernel side is
// simulated, with the rings, queue and tailroom of cfg. The socket is in
// copy mode; cfg.Ifindex, Mode and TxBudget are ignored.
func NewFakeSocketConfig(u *Umem, cfg SocketConfig) (*Socket, *FakeKernel, error) {
	if u.closed {
		return nil, nil, fmt.Errorf("create fake socket: UMEM closed")
	}
	rings := cfg.Rings
	if err := rings.Validate(UmemConfig{Frames: u.frames, FrameSize: u.frameSize}); err != nil {
		return nil, nil, err
	}
	if usable := u.frameSize - FrameHeadroom; cfg.Tailroom >= usable {
		return nil, nil, fmt.Errorf("create fake socket: invalid tailroom %d (a %d-byte UMEM frame holds %d bytes after the headroom)", cfg.Tailroom, u.frameSize, usable)
	}
	s := &Socket{
		fd:     -1,
		umem:   u,
		ifname: "fake",
		where:  fmt.Sprintf("fake queue %d", cfg.Queue),
		cfg:    SocketConfig{Queue: cfg.Queue, Rings: rings, Mode: BindCopy, Tailroom: cfg.Tailroom},
	}
	k := &FakeKernel{sock: s}
	s.fake = k
	mk := func(size uint32, entry int) []byte {
		return alignedBytes(int(fakeRingLayout.Desc) + int(size)*entry)
	}
	s.fill = newXskRing[uint64](mk(rings.Fill, 8), fakeRingLayout, rings.Fill, true)
	s.comp = newXskRing[uint64](mk(rings.Completion, 8), fakeRingLayout, rings.Completion, false)
	s.rx = newXskRing[Desc](mk(rings.Rx, int(sizeofDesc())), fakeRingLayout, rings.Rx, false)
	s.tx = newXskRing[Desc](mk(rings.Tx, int(sizeofDesc())), fakeRingLayout, rings.Tx, true)
	u.sockets.Add(1)
	return s, k, nil
}

// Inject delivers a received frame: it takes frames from the fill ring,
// copies data into them and puts their descriptors on the RX ring. A
// frame larger than a UMEM frame after the headroom is dropped, or, with
// SetMultiBuffer, split over several descriptors, all but the last with
// XDP_PKT_CONTD. Inject reports false when the frame was dropped (link
// down, device removed, fill ring empty, RX ring full or frame too
// large), counting the reason.
func (k *FakeKernel) Inject(data []byte) bool {
	if k.down || k.removed || k.closed {
		k.RxDropped++
		return false
	}

	u := k.sock.umem
	seg := int(u.frameSize - FrameHeadroom)
	n := (len(data) + seg - 1) / seg
	if n == 0 {
		n = 1
	}
	if n > 1 && !k.multiBuffer {
		k.RxDropped++
		return false
	}

	r := k.sock.rx
	prod := loadU32(r.producer)
	if room := r.size - (prod - loadU32(r.consumer)); room < uint32(n) {
		k.RxRingFull++
		// The kernel takes a frame before it finds the RX ring full, and
		// keeps it for the next packet.
		if base, ok := k.takeFill(); ok {
			k.spare = append(k.spare, base)
		}
		return false
	}
	f := k.sock.fill
	if len(k.spare)+int(loadU32(f.producer)-loadU32(f.consumer)) < n {
		k.FillEmpty++
		return false
	}

	for i := 0; i < n; i++ {
		base, _ := k.takeFill()
		chunk := data[i*seg : min(len(data), (i+1)*seg)]
		addr := base + FrameHeadroom
		copy(u.area[addr:], chunk)
		d := Desc{Addr: addr, Len: uint32(len(chunk))}
		if i < n-1 {
			d.Options = unix.XDP_PKT_CONTD
		}
		r.entries[prod&r.mask] = d
		prod++
	}
	storeU32(r.producer, prod)
	return true
}

// takeFill returns the base of a frame from the spare frames or the fill
// ring.
func (k *FakeKernel) takeFill() (uint64, bool) {
	u := k.sock.umem
	if n := len(k.spare); n > 0 {
		base := k.spare[n-1]
		k.spare = k.spare[:n-1]
		return base, true
	}
	f := k.sock.fill
	cons := loadU32(f.consumer)
	if loadU32(f.producer) == cons {
		return 0, false
	}
	base := f.entries[cons&f.mask] &^ uint64(u.frameSize-1)
	storeU32(f.consumer, cons+1)
	return base, true
}

// transmit consumes the TX ring as a kick (sendto) does in copy mode.
// Each valid frame is copied out and its address put on the completion
// ring. An invalid or rejected descriptor is skipped without a
// completion, as the kernel does.
//
// transmit returns the kernel's errors. ENETDOWN while the link is down
// and ENXIO once the device is removed leave the descriptors on the
// ring. EAGAIN means that the completion ring is full or the budget ran
// out with descriptors left.
func (k *FakeKernel) transmit() error {
	switch {
	case k.closed:
		return unix.EBADF
	case k.removed:
		return unix.ENXIO
	case k.down:
		return unix.ENETDOWN
	}
	u := k.sock.umem
	t, c := k.sock.tx, k.sock.comp
	tcons := loadU32(t.consumer)
	tprod := loadU32(t.producer)
	var err error
	for sent := 0; tcons != tprod; sent++ {
		if k.txBudget > 0 && sent == k.txBudget {
			err = unix.EAGAIN
			break
		}
		d := t.entries[tcons&t.mask]
		if k.rejectTx > 0 || !validTx(u, d) {
			if k.rejectTx > 0 {
				k.rejectTx--
			}
			k.TxInvalid++
			tcons++
			continue
		}
		cprod := loadU32(c.producer)
		if cprod-loadU32(c.consumer) == c.size {
			err = unix.EAGAIN
			break
		}
		if k.discard {
			k.count++
		} else {
			k.sent = append(k.sent, append([]byte(nil), u.area[d.Addr:d.Addr+uint64(d.Len)]...))
		}
		c.entries[cprod&c.mask] = d.Addr
		storeU32(c.producer, cprod+1)
		tcons++
	}
	storeU32(t.consumer, tcons)
	return err
}

// statistics returns the fake's counters as XDP_STATISTICS.
func (k *FakeKernel) statistics() unix.XDPStatistics {
	return unix.XDPStatistics{
		Rx_dropped:               k.RxDropped,
		Rx_ring_full:             k.RxRingFull,
		Rx_fill_ring_empty_descs: k.FillEmpty,
		Tx_invalid_descs:         k.TxInvalid,
	}
}

// Transmitted returns the frames transmitted since the last call.
func (k *FakeKernel) Transmitted() [][]byte {
	s := k.sent
	k.sent = nil
	return s
}

// SetDiscard makes later transmissions be counted and discarded instead
// of copied, for allocation tests and benchmarks.
func (k *FakeKernel) SetDiscard(discard bool) { k.discard = discard }

// Discarded returns the number of frames discarded since SetDiscard(true).
func (k *FakeKernel) Discarded() int { return k.count }

// SetLinkDown makes the simulated device drop received frames and fail
// kicks with ENETDOWN, leaving frames on the TX ring, or resume.
func (k *FakeKernel) SetLinkDown(down bool) { k.down = down }

// RemoveDevice makes the simulated device disappear for good: received
// frames are dropped and kicks fail with ENXIO.
func (k *FakeKernel) RemoveDevice() { k.removed = true }

// SetMultiBuffer makes Inject split frames larger than a UMEM frame into
// several descriptors instead of dropping them, as a socket bound with
// XDP_USE_SG does.
func (k *FakeKernel) SetMultiBuffer(on bool) { k.multiBuffer = on }

// RejectTx makes the kernel reject the next n TX descriptors as invalid:
// they are consumed, counted in TxInvalid and never completed, so their
// frames stay with the socket until it is closed.
func (k *FakeKernel) RejectTx(n int) { k.rejectTx += n }

// SetTxBudget limits the descriptors one kick transmits, as
// XDP_MAX_TX_SKB_BUDGET does; 0 removes the limit.
func (k *FakeKernel) SetTxBudget(n int) { k.txBudget = n }

// FillLevel returns the number of frames on the fill ring.
func (k *FakeKernel) FillLevel() int {
	f := k.sock.fill
	return int(loadU32(f.producer) - loadU32(f.consumer))
}

// Spare returns the number of frames taken from the fill ring but not
// delivered.
func (k *FakeKernel) Spare() int { return len(k.spare) }

func (k *FakeKernel) String() string {
	return fmt.Sprintf("fake kernel: rx dropped %d, rx ring full %d, fill empty %d, tx invalid %d",
		k.RxDropped, k.RxRingFull, k.FillEmpty, k.TxInvalid)
}
