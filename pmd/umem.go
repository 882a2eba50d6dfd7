package pmd

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// FrameHeadroom is the space before the first byte of every received
// frame: the kernel's XDP_PACKET_HEADROOM, which it reserves in copy and
// zero-copy mode alike. Encapsulation writes outer headers there.
const FrameHeadroom = unix.XDP_PACKET_HEADROOM

// Frame places, recorded per frame so that every frame is always in
// exactly one place. A frame in the kernel is tagged with the socket
// that owns the ring it is on.
const (
	placeFree   uint32 = 0 // on the UMEM's free stack
	placeHeld   uint32 = 1 // received, owned by the worker until sent or released
	placeKernRx uint32 = 2 // on a socket's fill ring or RX ring
	placeKernTx uint32 = 3 // on a socket's TX ring or completion ring

	placeShift = 28
	socketMask = 1<<placeShift - 1

	// selfTestSocket tags the frame of the zero-copy transmit self-test,
	// which runs before the socket is a port of a worker. Port IDs stay
	// below it.
	selfTestSocket = socketMask
)

// UmemConfig sets the size of a UMEM.
type UmemConfig struct {
	// Frames is the number of frames, a power of two.
	Frames uint32
	// FrameSize is the size of each frame in bytes: 2048 or 4096 (the
	// kernel accepts powers of two from 2048 to the page size for aligned
	// chunks).
	FrameSize uint32
}

// DefaultUmemConfig is a UMEM of 16384 frames of 2048 bytes (32 MiB),
// enough for an 8192-entry fill ring, full RX and TX rings and frames in
// flight on a few more ports.
var DefaultUmemConfig = UmemConfig{Frames: 16384, FrameSize: 2048}

// Umem is the packet memory of one worker: a mapped area cut into
// equal frames, shared by every socket the worker polls, so that a frame
// received on one port is transmitted on another without a copy.
//
// A Umem is not safe for concurrent use; its worker owns it.
type Umem struct {
	area       []byte
	frameSize  uint32
	frameShift uint32
	frames     uint32
	free       []uint64
	place      []uint32
	// ownerFd is the socket that registered the area with the kernel, or
	// -1; ownerZeroCopy and ownerName describe it for the errors of
	// sockets that share it.
	ownerFd       int
	ownerZeroCopy bool
	ownerName     string
	// sockets counts the open sockets on the UMEM, fake ones included.
	// Open adds to it on the caller's goroutine, and the worker
	// subtracts when it closes a port.
	sockets atomic.Int32
	// running is set while a worker's Run polls this UMEM.
	running atomic.Bool
	closed  bool
}

// Validate checks the sizes before anything is mapped.
func (c UmemConfig) Validate() error {
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("invalid UMEM frame size %d (use 2048 or 4096)", c.FrameSize)
	}
	if c.Frames < 64 || c.Frames&(c.Frames-1) != 0 {
		return fmt.Errorf("invalid UMEM frame count %d (use a power of two of at least 64)", c.Frames)
	}
	if c.Frames > 1<<22 {
		return fmt.Errorf("invalid UMEM frame count %d (the maximum is %d)", c.Frames, 1<<22)
	}
	return nil
}

// NewUmem maps an anonymous area for cfg.Frames frames. The area is
// registered with the kernel when the first socket binds to it.
func NewUmem(cfg UmemConfig) (*Umem, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	size := int(cfg.Frames) * int(cfg.FrameSize)
	area, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("map UMEM of %d bytes: %w", size, err)
	}
	u := &Umem{
		area:       area,
		frameSize:  cfg.FrameSize,
		frameShift: uint32(bits.TrailingZeros32(cfg.FrameSize)),
		frames:     cfg.Frames,
		free:       make([]uint64, 0, cfg.Frames),
		place:      make([]uint32, cfg.Frames),
		ownerFd:    -1,
	}
	for i := int(cfg.Frames) - 1; i >= 0; i-- {
		u.free = append(u.free, uint64(i)<<u.frameShift)
	}
	return u, nil
}

// FrameSize returns the size of each frame in bytes.
func (u *Umem) FrameSize() uint32 { return u.frameSize }

// Frames returns the number of frames.
func (u *Umem) Frames() uint32 { return u.frames }

// FreeFrames returns the number of frames on the free stack. Call it on
// the worker's goroutine or while the worker does not run; other
// goroutines read WorkerStats.FreeFrames.
func (u *Umem) FreeFrames() int { return len(u.free) }

// MaxFrameLen returns the largest frame that fits in one frame after the
// headroom, reserving tailroom bytes at the end.
func (u *Umem) MaxFrameLen(tailroom uint32) uint32 {
	return u.frameSize - FrameHeadroom - tailroom
}

// Bytes returns the n bytes at addr. The slice aliases the UMEM.
func (u *Umem) Bytes(addr uint64, n uint32) []byte {
	return u.area[addr : addr+uint64(n) : u.frameEnd(addr)]
}

// Frame returns the bytes d describes.
func (u *Umem) Frame(d Desc) []byte {
	return u.Bytes(d.Addr, d.Len)
}

// Headroom returns how many bytes of the frame precede addr.
func (u *Umem) Headroom(addr uint64) uint32 {
	return uint32(addr & uint64(u.frameSize-1))
}

// Tailroom returns how many bytes of the frame follow a frame of n bytes
// at addr.
func (u *Umem) Tailroom(addr uint64, n uint32) uint32 {
	return u.frameSize - u.Headroom(addr) - n
}

func (u *Umem) frameEnd(addr uint64) uint64 {
	return (addr | uint64(u.frameSize-1)) + 1
}

func (u *Umem) index(addr uint64) uint32 {
	return uint32(addr >> u.frameShift)
}

// Alloc takes a frame off the free stack and returns the address of its
// first byte after FrameHeadroom. The frame is held by the caller.
func (u *Umem) Alloc() (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	base := u.free[n-1]
	u.free = u.free[:n-1]
	u.move(base, placeFree, placeHeld<<placeShift)
	return base + FrameHeadroom, true
}

// Release returns a held frame to the free stack. addr may point
// anywhere inside the frame.
func (u *Umem) Release(addr uint64) {
	base := addr &^ uint64(u.frameSize-1)
	u.move(base, placeHeld<<placeShift, placeFree)
	u.free = append(u.free, base)
}

// takeForRx moves a free frame onto socket s's fill ring.
func (u *Umem) takeForRx(s uint32) (uint64, bool) {
	n := len(u.free)
	if n == 0 {
		return 0, false
	}
	base := u.free[n-1]
	u.free = u.free[:n-1]
	u.move(base, placeFree, placeKernRx<<placeShift|s)
	return base, true
}

// received marks a frame that socket s returned on its RX ring as held.
func (u *Umem) received(addr uint64, s uint32) {
	u.move(addr&^uint64(u.frameSize-1), placeKernRx<<placeShift|s, placeHeld<<placeShift)
}

// submitted marks a held frame as given to socket s for transmission.
func (u *Umem) submitted(addr uint64, s uint32) {
	u.move(addr&^uint64(u.frameSize-1), placeHeld<<placeShift, placeKernTx<<placeShift|s)
}

// completed returns a frame that socket s transmitted to the free stack.
func (u *Umem) completed(addr uint64, s uint32) {
	base := addr &^ uint64(u.frameSize-1)
	u.move(base, placeKernTx<<placeShift|s, placeFree)
	u.free = append(u.free, base)
}

// reclaim returns every frame that socket s still owned to the free
// stack. It is called once the kernel no longer uses the socket's rings,
// and returns the number of frames reclaimed.
func (u *Umem) reclaim(s uint32) int {
	n := 0
	for i, p := range u.place {
		kind := p >> placeShift
		if (kind == placeKernRx || kind == placeKernTx) && p&socketMask == s {
			u.place[i] = placeFree
			u.free = append(u.free, uint64(i)<<u.frameShift)
			n++
		}
	}
	return n
}

// retag moves the frames that socket tag from owns to tag to: the frame
// of a transmit self-test that had not completed when the socket became
// a port.
func (u *Umem) retag(from, to uint32) {
	for i, p := range u.place {
		kind := p >> placeShift
		if (kind == placeKernRx || kind == placeKernTx) && p&socketMask == from {
			u.place[i] = kind<<placeShift | to
		}
	}
}

// Count returns how many frames are in each place: free, held, on fill
// or RX rings, and on TX or completion rings. The four always add up to
// Frames().
func (u *Umem) Count() (free, held, kernRx, kernTx int) {
	for _, p := range u.place {
		switch p >> placeShift {
		case placeFree:
			free++
		case placeHeld:
			held++
		case placeKernRx:
			kernRx++
		case placeKernTx:
			kernTx++
		}
	}
	return
}

// Close unmaps the area. It fails, leaving the area mapped, while a
// socket on the UMEM is open. It is idempotent.
func (u *Umem) Close() error {
	if u.closed {
		return nil
	}
	if n := u.sockets.Load(); n > 0 {
		return fmt.Errorf("unmap UMEM: %d sockets still open (close them first)", n)
	}
	u.closed = true
	if err := unix.Munmap(u.area); err != nil {
		return fmt.Errorf("unmap UMEM: %w", err)
	}
	u.area = nil
	return nil
}
