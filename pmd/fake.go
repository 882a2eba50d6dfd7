package pmd

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FakeKernel plays the kernel's side of a socket whose rings live in
// ordinary memory, so that code above the socket layer runs in tests
// without privileges. It behaves like copy mode: frames are copied into
// fill-ring frames on Inject, and transmitted frames are copied out when
// the worker kicks the socket.
//
// A FakeKernel is driven from the worker's goroutine (through kicks) and
// from the test, so tests call Inject and Transmitted only while the
// worker is not running, or from Handler callbacks and Worker.Call.
type FakeKernel struct {
	sock *Socket
	// spare contains frames taken from the fill ring that could not be
	// delivered because the RX ring was full. They are used first, as
	// the kernel's buffer pool does.
	spare []uint64
	sent  [][]byte
	// discard counts transmitted frames without keeping them.
	discard bool
	count   int
	down    bool
	closed  bool

	// Counters comparable to XDP_STATISTICS.
	RxDropped, RxRingFull, FillEmpty, TxDropped uint64
}

// fakeRingLayout places the producer, consumer and flags words on their
// own cache lines, as the kernel does.
var fakeRingLayout = unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}

// NewFakeSocket returns a socket on u whose kernel side is simulated.
func NewFakeSocket(u *Umem, rings RingConfig) (*Socket, *FakeKernel, error) {
	if err := rings.Validate(UmemConfig{Frames: u.frames, FrameSize: u.frameSize}); err != nil {
		return nil, nil, err
	}
	s := &Socket{fd: -1, umem: u, ifname: "fake", cfg: SocketConfig{Ifindex: 0, Rings: rings}}
	k := &FakeKernel{sock: s}
	s.fake = k
	mk := func(size uint32, entry int) []byte {
		return alignedBytes(int(fakeRingLayout.Desc) + int(size)*entry)
	}
	s.fill = newXskRing[uint64](mk(rings.Fill, 8), fakeRingLayout, rings.Fill, true)
	s.comp = newXskRing[uint64](mk(rings.Completion, 8), fakeRingLayout, rings.Completion, false)
	s.rx = newXskRing[Desc](mk(rings.Rx, int(sizeofDesc())), fakeRingLayout, rings.Rx, false)
	s.tx = newXskRing[Desc](mk(rings.Tx, int(sizeofDesc())), fakeRingLayout, rings.Tx, true)
	return s, k, nil
}

// Inject delivers a received frame: it takes a frame from the fill ring,
// copies data into it and puts it on the RX ring. It reports false when
// the frame was dropped (link down, fill ring empty, RX ring full or
// frame too large), counting the reason.
func (k *FakeKernel) Inject(data []byte) bool {
	if k.down || k.closed {
		k.RxDropped++
		return false
	}
	u := k.sock.umem
	if len(data) > int(u.frameSize-FrameHeadroom) {
		k.RxDropped++
		return false
	}
	var base uint64
	if n := len(k.spare); n > 0 {
		base = k.spare[n-1]
		k.spare = k.spare[:n-1]
	} else {
		f := k.sock.fill
		prod := loadU32(f.producer)
		cons := loadU32(f.consumer)
		if prod == cons {
			k.FillEmpty++
			return false
		}
		base = f.entries[cons&f.mask]
		storeU32(f.consumer, cons+1)
	}
	base &^= uint64(u.frameSize - 1)
	r := k.sock.rx
	prod := loadU32(r.producer)
	cons := loadU32(r.consumer)
	if prod-cons == r.size {
		k.RxRingFull++
		k.spare = append(k.spare, base)
		return false
	}
	addr := base + FrameHeadroom
	copy(u.area[addr:], data)
	r.entries[prod&r.mask] = Desc{Addr: addr, Len: uint32(len(data))}
	storeU32(r.producer, prod+1)
	return true
}

// transmit consumes the TX ring: each frame is copied out and its
// address put on the completion ring. A link that is down leaves the
// descriptors on the ring, as a real device does.
func (k *FakeKernel) transmit() {
	if k.down || k.closed {
		return
	}
	u := k.sock.umem
	t, c := k.sock.tx, k.sock.comp
	tcons := loadU32(t.consumer)
	tprod := loadU32(t.producer)
	for tcons != tprod {
		cprod := loadU32(c.producer)
		if cprod-loadU32(c.consumer) == c.size {
			break
		}
		d := t.entries[tcons&t.mask]
		if d.Addr+uint64(d.Len) > uint64(len(u.area)) || u.Headroom(d.Addr)+d.Len > u.frameSize {
			// The kernel counts and skips invalid descriptors.
			k.TxDropped++
		} else if k.discard {
			k.count++
		} else {
			k.sent = append(k.sent, append([]byte(nil), u.area[d.Addr:d.Addr+uint64(d.Len)]...))
		}
		c.entries[cprod&c.mask] = d.Addr
		storeU32(c.producer, cprod+1)
		tcons++
	}
	storeU32(t.consumer, tcons)
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

// SetLinkDown makes the simulated device drop received frames and stop
// transmitting, or resume.
func (k *FakeKernel) SetLinkDown(down bool) { k.down = down }

// FillLevel returns the number of frames on the fill ring.
func (k *FakeKernel) FillLevel() int {
	f := k.sock.fill
	return int(loadU32(f.producer) - loadU32(f.consumer))
}

// Spare returns the number of frames taken from the fill ring but not
// delivered.
func (k *FakeKernel) Spare() int { return len(k.spare) }

func (k *FakeKernel) String() string {
	return fmt.Sprintf("fake kernel: rx dropped %d, rx ring full %d, fill empty %d, tx dropped %d",
		k.RxDropped, k.RxRingFull, k.FillEmpty, k.TxDropped)
}
