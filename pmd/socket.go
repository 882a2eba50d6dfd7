package pmd

import (
	"errors"
	"fmt"
	"net"
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
}

// BindRetryTimeout bounds the retries of a bind that fails with EBUSY.
// The kernel releases a closed socket's buffer pool from deferred work,
// so binding the same queue again fails for a few milliseconds (8 to
// 19 ms measured on Linux 6.18 veth).
const BindRetryTimeout = 500 * time.Millisecond

// Socket is an AF_XDP socket with its rings mapped.
type Socket struct {
	fd       int
	cfg      SocketConfig
	ifname   string
	umem     *Umem
	fill     *xskRing[uint64]
	comp     *xskRing[uint64]
	rx       *xskRing[Desc]
	tx       *xskRing[Desc]
	zerocopy bool
	maps     [][]byte
	closed   bool
	// fake is set for sockets whose kernel side a test simulates.
	fake *FakeKernel
}

// Open creates a socket on u. The first socket opened on a UMEM
// registers it; later sockets share it (XDP_SHARED_UMEM), each with its
// own fill and completion rings.
func Open(u *Umem, cfg SocketConfig) (*Socket, error) {
	if err := cfg.Rings.Validate(UmemConfig{Frames: u.frames, FrameSize: u.frameSize}); err != nil {
		return nil, err
	}
	ifname := fmt.Sprintf("ifindex %d", cfg.Ifindex)
	if ifi, err := net.InterfaceByIndex(cfg.Ifindex); err == nil {
		ifname = ifi.Name
	}
	where := fmt.Sprintf("%s queue %d", ifname, cfg.Queue)

	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create AF_XDP socket for %s: %w", where, err)
	}
	s := &Socket{fd: fd, cfg: cfg, ifname: ifname, umem: u}
	if err := s.setup(where); err != nil {
		s.unmapAndClose()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(where string) error {
	u, cfg := s.umem, s.cfg
	owner := u.ownerFd < 0
	if owner {
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
	if err := s.mapRings(where); err != nil {
		return err
	}
	if err := s.bind(owner, where); err != nil {
		return err
	}
	if owner {
		u.ownerFd = s.fd
	}
	opts, err := unix.GetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	if err != nil {
		return fmt.Errorf("read XDP options of %s: %w", where, err)
	}
	s.zerocopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	return nil
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

// bind binds the socket, choosing the mode and retrying while the queue
// is still busy from a socket closed just before.
func (s *Socket) bind(owner bool, where string) error {
	var modes []uint16
	switch {
	case !owner:
		// A sharing socket inherits the mode and the need_wakeup setting
		// of the UMEM; any flag besides XDP_SHARED_UMEM is rejected.
		modes = []uint16{unix.XDP_SHARED_UMEM}
	case s.cfg.Mode == BindZeroCopy:
		modes = []uint16{unix.XDP_ZEROCOPY | unix.XDP_USE_NEED_WAKEUP}
	case s.cfg.Mode == BindCopy:
		modes = []uint16{unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP}
	default:
		modes = []uint16{unix.XDP_ZEROCOPY | unix.XDP_USE_NEED_WAKEUP, unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP}
	}
	var err error
	for i, flags := range modes {
		sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(s.cfg.Ifindex), QueueID: uint32(s.cfg.Queue)}
		if !owner {
			sa.SharedUmemFD = uint32(s.umem.ownerFd)
		}
		err = bindRetry(s.fd, sa)
		if err == nil {
			return nil
		}
		last := i == len(modes)-1
		if !last && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)) {
			continue
		}
		break
	}
	switch {
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

// Statistics returns the kernel's XDP_STATISTICS counters.
func (s *Socket) Statistics() (unix.XDPStatistics, error) {
	return getsockoptStatistics(s.fd)
}

// close unmaps the rings and closes the socket. The caller reclaims the
// frames the socket owned.
func (s *Socket) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.fake != nil {
		s.fake.closed = true
		return nil
	}
	return s.unmapAndClose()
}

// isOwner reports whether the socket registered its UMEM. Sharing
// sockets bind through the owner's descriptor, so the owner stays open
// until its worker closes.
func (s *Socket) isOwner() bool {
	return s.fake == nil && s.fd == s.umem.ownerFd
}

func (s *Socket) unmapAndClose() error {
	var errs []error
	for _, m := range s.maps {
		if err := unix.Munmap(m); err != nil {
			errs = append(errs, fmt.Errorf("unmap ring: %w", err))
		}
	}
	s.maps = nil
	if err := unix.Close(s.fd); err != nil {
		errs = append(errs, fmt.Errorf("close AF_XDP socket: %w", err))
	}
	return errors.Join(errs...)
}
