package pmd

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// BindMode selects how an AF_XDP socket moves frames.
type BindMode int

const (
	// BindAuto tries zero-copy and falls back to copy mode when the
	// driver does not support it.
	BindAuto BindMode = iota
	// BindCopy copies frames between the driver and the UMEM; it works on
	// every device, veth included.
	BindCopy
	// BindZeroCopy lets the driver use UMEM frames directly; it fails on
	// drivers without AF_XDP zero-copy support.
	BindZeroCopy
)

func (m BindMode) String() string {
	switch m {
	case BindAuto:
		return "auto"
	case BindCopy:
		return "copy"
	case BindZeroCopy:
		return "zerocopy"
	}
	return fmt.Sprintf("BindMode(%d)", int(m))
}

// ParseBindMode parses "auto", "copy" or "zerocopy".
func ParseBindMode(s string) (BindMode, error) {
	switch s {
	case "auto":
		return BindAuto, nil
	case "copy":
		return BindCopy, nil
	case "zerocopy":
		return BindZeroCopy, nil
	}
	return 0, fmt.Errorf("invalid bind mode %q (use auto, copy or zerocopy)", s)
}

// RingConfig sets the sizes of a socket's rings, each a power of two.
type RingConfig struct {
	Fill, Completion, Rx, Tx uint32
}

// DefaultRingConfig sizes the rings for a port that carries the bulk of
// the traffic. At about 4 million frames per second an 8192-entry fill
// ring lasts 2 ms, which covers the scheduling gaps of a shared CPU.
var DefaultRingConfig = RingConfig{Fill: 8192, Completion: 2048, Rx: 2048, Tx: 2048}

// Validate checks that every ring size is a power of two in the range
// the kernel accepts, and that the UMEM has frames for the fill and TX
// rings with some left in flight.
func (c RingConfig) Validate(u UmemConfig) error {
	for _, r := range []struct {
		name string
		size uint32
	}{{"fill", c.Fill}, {"completion", c.Completion}, {"rx", c.Rx}, {"tx", c.Tx}} {
		if r.size < 64 || r.size&(r.size-1) != 0 || r.size > 1<<20 {
			return fmt.Errorf("invalid %s ring size %d (use a power of two from 64 to %d)", r.name, r.size, 1<<20)
		}
	}
	if c.Completion < c.Tx {
		return fmt.Errorf("invalid completion ring size %d: smaller than the tx ring (%d)", c.Completion, c.Tx)
	}
	if need := c.Fill + c.Tx + BatchSize; u.Frames < need {
		return fmt.Errorf("UMEM of %d frames too small for fill ring %d + tx ring %d + a batch of %d in flight (use at least %d frames)",
			u.Frames, c.Fill, c.Tx, BatchSize, need)
	}
	return nil
}

// SocketConfig describes one AF_XDP socket, bound to one queue of one
// interface.
type SocketConfig struct {
	Ifindex int
	Queue   int
	Rings   RingConfig
	Mode    BindMode
	// TxBudget sets XDP_MAX_TX_SKB_BUDGET, the number of descriptors one
	// kick transmits in copy mode (kernel default 32); 0 keeps the
	// default.
	TxBudget int
	// Tailroom is the number of bytes that every received frame leaves
	// unused at the end of its UMEM frame, for trailers the caller
	// appends in place (an ESP trailer and ICV, for example). Open fails
	// when the interface's MTU leaves less, and the worker drops received
	// frames that reach into it.
	Tailroom uint32
}

// maxL2Overhead is what a frame adds to the MTU: the Ethernet header
// (14 bytes) and one 802.1Q tag (4 bytes). The FCS never reaches AF_XDP.
const maxL2Overhead = 14 + 4

// BindRetryTimeout bounds the retries of a bind that fails with EBUSY.
// The kernel releases a closed socket's buffer pool from deferred work,
// so binding the same queue again fails for a few milliseconds (8 to
// 19 ms measured on Linux 6.18 veth).
const BindRetryTimeout = 500 * time.Millisecond

// Socket is an AF_XDP socket with its rings mapped.
type Socket struct {
	fd     int
	cfg    SocketConfig
	ifname string
	where  string // interface and queue, for errors
	mac    [6]byte
	umem   *Umem
	fill   *xskRing[uint64]
	comp   *xskRing[uint64]
	rx     *xskRing[Desc]
	tx     *xskRing[Desc]
	maps   [][]byte
	// owner is set on the socket that registered the UMEM.
	owner    bool
	zerocopy bool
	// bindNote explains the mode that auto mode chose, when it is not a
	// plain zero-copy bind.
	bindNote string
	// selfTestPending is set while the frame of an inconclusive transmit
	// self-test is still in the kernel, tagged selfTestSocket.
	selfTestPending bool
	// inWorker is set once the socket is a port of a worker, which then
	// closes it.
	inWorker bool
	closed   atomic.Bool
	// fake is set for sockets whose kernel side a test simulates.
	fake *FakeKernel
}

// Open creates a socket on u. The first socket opened on a UMEM
// registers it. Later sockets share it (XDP_SHARED_UMEM) with their own
// fill and completion rings, and inherit its bind mode.
//
// Open fails when the interface's MTU, plus the Ethernet header and one
// VLAN tag, does not fit in a UMEM frame after FrameHeadroom and
// cfg.Tailroom. The socket does not use multi-buffer frames, so larger
// frames could not be received whole.
//
// In auto mode the first socket on a UMEM borrows a frame for the
// zero-copy transmit self-test, so it must be opened before the UMEM's
// worker runs; in the explicit modes it may be opened at any time.
func Open(u *Umem, cfg SocketConfig) (*Socket, error) {
	if u.closed {
		return nil, fmt.Errorf("open AF_XDP socket on interface index %d: UMEM closed", cfg.Ifindex)
	}
	if err := cfg.Rings.Validate(UmemConfig{Frames: u.frames, FrameSize: u.frameSize}); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByIndex(cfg.Ifindex)
	if err != nil {
		return nil, fmt.Errorf("open AF_XDP socket on interface index %d: %w", cfg.Ifindex, err)
	}
	s := &Socket{
		fd:     -1,
		cfg:    cfg,
		ifname: ifi.Name,
		where:  fmt.Sprintf("%s queue %d", ifi.Name, cfg.Queue),
		umem:   u,
		owner:  u.ownerFd < 0,
	}
	copy(s.mac[:], ifi.HardwareAddr)
	if err := CheckFrameFits(u.frameSize, ifi.MTU, cfg.Tailroom); err != nil {
		return nil, fmt.Errorf("open AF_XDP socket on %s: %w", s.where, err)
	}
	if s.owner && u.running.Load() && cfg.Mode == BindAuto {
		// The transmit self-test of auto mode takes a frame from the
		// free stack, which the running worker owns.
		return nil, fmt.Errorf("open AF_XDP socket on %s: the first socket on a UMEM must be opened before its worker runs, or in copy or zero-copy mode", s.where)
	}

	if err := s.create(); err != nil {
		s.unmapAndClose()
		return nil, err
	}
	zc, note, err := negotiateBind(s, cfg.Mode, s.owner)
	if err != nil && !s.owner && errors.Is(err, unix.EBADF) && s.fake == nil {
		zc, note, err = s.registerAgain()
	}
	if err != nil {
		s.unmapAndClose()
		u.reclaim(selfTestSocket)
		return nil, s.bindError(err)
	}
	s.zerocopy, s.bindNote = zc, note
	if s.owner {
		u.ownerFd, u.ownerZeroCopy, u.ownerName = s.fd, zc, s.where
	}
	u.sockets.Add(1)
	return s, nil
}

// registerAgain makes the socket register the UMEM itself and binds it
// in the mode of the UMEM's first socket. The kernel shares a UMEM only
// through a bound socket, and the socket that registered it is unbound
// once its interface is deleted; sharing through it fails with EBADF.
// The frames stay the same: the kernel pins the area a second time.
func (s *Socket) registerAgain() (bool, string, error) {
	u := s.umem
	if err := s.unmapAndClose(); err != nil {
		return false, "", err
	}
	s.fd, s.owner = -1, true
	if err := s.create(); err != nil {
		return false, "", err
	}
	mode := BindCopy
	if u.ownerZeroCopy {
		mode = BindZeroCopy
	}
	zc, _, err := negotiateBind(s, mode, true)
	return zc, "registered the UMEM again, since its first socket is no longer bound", err
}

// CheckFrameFits checks that a frame of the largest size an MTU allows
// fits in a UMEM frame after the headroom, leaving tailroom bytes.
func CheckFrameFits(frameSize uint32, mtu int, tailroom uint32) error {
	usable := frameSize - FrameHeadroom
	if tailroom >= usable {
		return fmt.Errorf("invalid tailroom %d (a %d-byte UMEM frame holds %d bytes after the headroom)", tailroom, frameSize, usable)
	}
	room := usable - tailroom
	if need := uint64(mtu) + maxL2Overhead; need > uint64(room) {
		return fmt.Errorf("MTU %d too large: frames of up to %d bytes (MTU + Ethernet header + VLAN tag) do not fit in the %d bytes a %d-byte UMEM frame leaves after %d bytes of headroom and %d of tailroom (lower the MTU to %d or use 4096-byte frames)",
			mtu, need, room, frameSize, FrameHeadroom, tailroom, room-maxL2Overhead)
	}
	return nil
}

// create makes the socket, registers the UMEM when the socket is its
// owner, and sets up and maps the rings. The socket is not bound.
func (s *Socket) create() error {
	u, cfg, where := s.umem, s.cfg, s.where
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("create AF_XDP socket for %s: %w", where, err)
	}
	s.fd = fd
	if s.owner {
		reg := unix.XDPUmemReg{
			Addr: areaAddress(u.area),
			Len:  uint64(len(u.area)),
			Size: u.frameSize,
		}
		if err := setsockoptUmemReg(s.fd, &reg); err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				return fmt.Errorf("register UMEM for %s: %w (the process needs CAP_IPC_LOCK or a larger RLIMIT_MEMLOCK)", where, err)
			}
			return fmt.Errorf("register UMEM for %s: %w", where, err)
		}
	}
	for _, o := range []struct {
		name string
		opt  int
		size uint32
	}{
		{"fill", unix.XDP_UMEM_FILL_RING, cfg.Rings.Fill},
		{"completion", unix.XDP_UMEM_COMPLETION_RING, cfg.Rings.Completion},
		{"rx", unix.XDP_RX_RING, cfg.Rings.Rx},
		{"tx", unix.XDP_TX_RING, cfg.Rings.Tx},
	} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, o.opt, int(o.size)); err != nil {
			return fmt.Errorf("set %s ring size %d on %s: %w", o.name, o.size, where, err)
		}
	}
	if cfg.TxBudget > 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, cfg.TxBudget); err != nil {
			return fmt.Errorf("set tx budget %d on %s: %w", cfg.TxBudget, where, err)
		}
	}
	return s.mapRings(where)
}

func (s *Socket) mapRings(where string) error {
	off, err := getsockoptMmapOffsets(s.fd)
	if err != nil {
		return fmt.Errorf("read ring offsets of %s: %w", where, err)
	}
	mapRing := func(name string, pgoff int64, ro unix.XDPRingOffset, size uint32, entry uintptr) ([]byte, error) {
		n := int(ro.Desc) + int(size)*int(entry)
		mem, err := unix.Mmap(s.fd, pgoff, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("map %s ring of %s: %w", name, where, err)
		}
		s.maps = append(s.maps, mem)
		return mem, nil
	}
	r := s.cfg.Rings
	mem, err := mapRing("fill", unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, r.Fill, 8)
	if err != nil {
		return err
	}
	s.fill = newXskRing[uint64](mem, off.Fr, r.Fill, true)
	if mem, err = mapRing("completion", unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, r.Completion, 8); err != nil {
		return err
	}
	s.comp = newXskRing[uint64](mem, off.Cr, r.Completion, false)
	if mem, err = mapRing("rx", unix.XDP_PGOFF_RX_RING, off.Rx, r.Rx, sizeofDesc()); err != nil {
		return err
	}
	s.rx = newXskRing[Desc](mem, off.Rx, r.Rx, false)
	if mem, err = mapRing("tx", unix.XDP_PGOFF_TX_RING, off.Tx, r.Tx, sizeofDesc()); err != nil {
		return err
	}
	s.tx = newXskRing[Desc](mem, off.Tx, r.Tx, true)
	return nil
}

// bindError adds the likely fix to a failed bind.
func (s *Socket) bindError(err error) error {
	where := s.where
	switch {
	case errors.Is(err, unix.EOPNOTSUPP) && !s.owner && s.umem.ownerZeroCopy:
		return fmt.Errorf("bind AF_XDP socket to %s: %w (the UMEM is in zero-copy mode, set by %s, and a socket that shares it inherits the mode; open the UMEM's first socket in copy mode)",
			where, err, s.umem.ownerName)
	case errors.Is(err, unix.EOPNOTSUPP) && s.cfg.Mode == BindZeroCopy:
		return fmt.Errorf("bind AF_XDP socket to %s in zero-copy mode: %w (the driver has no zero-copy support; use copy mode)", where, err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("bind AF_XDP socket to %s: %w (another AF_XDP socket is bound to that queue)", where, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("bind AF_XDP socket to %s: %w (check that the queue exists: ethtool -l %s)", where, err, s.ifname)
	}
	return fmt.Errorf("bind AF_XDP socket to %s: %w", where, err)
}

func bindRetry(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(BindRetryTimeout)
	for {
		err := unix.Bind(fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Fd returns the socket's file descriptor, for poll and for the XSKMAP.
func (s *Socket) Fd() int { return s.fd }

// Ifindex returns the index of the interface the socket is bound to.
func (s *Socket) Ifindex() int { return s.cfg.Ifindex }

// Queue returns the queue the socket is bound to.
func (s *Socket) Queue() int { return s.cfg.Queue }

// Ifname returns the name the interface had when the socket was opened.
func (s *Socket) Ifname() string { return s.ifname }

// ZeroCopy reports whether the kernel bound the socket in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.zerocopy }

// Mode returns the mode the socket is bound in: BindCopy or
// BindZeroCopy, never BindAuto.
func (s *Socket) Mode() BindMode {
	if s.zerocopy {
		return BindZeroCopy
	}
	return BindCopy
}

// BindNote explains the mode that auto mode chose when it is not a
// zero-copy bind that passed its transmit self-test: why the socket fell
// back to copy mode, or why the self-test was inconclusive. It is empty
// otherwise.
func (s *Socket) BindNote() string { return s.bindNote }

// String describes the socket for logs: interface, queue, bind mode and
// the bind note, as in "eth1 queue 0 (copy: the driver has no zero-copy
// support)".
func (s *Socket) String() string {
	if s.bindNote == "" {
		return fmt.Sprintf("%s (%s)", s.where, s.Mode())
	}
	return fmt.Sprintf("%s (%s: %s)", s.where, s.Mode(), s.bindNote)
}

// Statistics returns the kernel's XDP_STATISTICS counters.
func (s *Socket) Statistics() (unix.XDPStatistics, error) {
	if s.closed.Load() {
		return unix.XDPStatistics{}, fmt.Errorf("read XDP statistics of %s: socket closed", s.where)
	}
	if s.fake != nil {
		return s.fake.statistics(), nil
	}
	return getsockoptStatistics(s.fd)
}

// Close unmaps the rings and closes a socket that is not a port of a
// worker: one whose AddPort was never called. A worker closes its
// ports' sockets itself (Worker.RemovePort, Worker.Close). Close is
// idempotent.
func (s *Socket) Close() error {
	if s.inWorker {
		return fmt.Errorf("close AF_XDP socket on %s: the socket is a port of a worker (use Worker.RemovePort)", s.where)
	}
	return s.close()
}

// close unmaps the rings and closes the socket. The worker reclaims the
// frames a port's socket owned.
func (s *Socket) close() error {
	// RemovePort closes a removed port's socket on its caller's
	// goroutine, which may race with Worker.Close.
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	u := s.umem
	u.sockets.Add(-1)
	if s.owner && u.ownerFd == s.fd {
		// Later sockets register the UMEM again.
		u.ownerFd = -1
	}
	var err error
	if s.fake != nil {
		s.fake.closed = true
	} else {
		err = s.unmapAndClose()
	}
	if s.selfTestPending {
		s.selfTestPending = false
		u.reclaim(selfTestSocket)
	}
	return err
}

// isOwner reports whether the socket registered its UMEM. Sharing
// sockets bind through the owner's descriptor, so the owner stays open
// until its worker closes.
func (s *Socket) isOwner() bool { return s.owner }

func (s *Socket) unmapAndClose() error {
	var errs []error
	for _, m := range s.maps {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("unmap ring: %w", err))
		}
	}
	s.maps = nil
	if s.fd >= 0 {
		if err := unix.Close(s.fd); err != nil {
			errs = append(errs, fmt.Errorf("close AF_XDP socket: %w", err))
		}
	}
	return errors.Join(errs...)
}
