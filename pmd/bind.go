package pmd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Bind flags of a socket that registers its UMEM. need_wakeup is always
// requested, so that the kernel sets a flag on the fill and TX rings
// when it needs a system call to go on.
const (
	flagsZeroCopy = unix.XDP_ZEROCOPY | unix.XDP_USE_NEED_WAKEUP
	flagsCopy     = unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP
)

// SelfTestTimeout bounds the zero-copy transmit self-test: the time a
// zero-copy socket in auto mode has to complete one transmitted frame.
const SelfTestTimeout = 250 * time.Millisecond

// selfTestEtherType is Local Experimental EtherType 1 (0x88b5, from
// IEEE Std 802a-2003, now part of IEEE Std 802), set aside for
// prototypes, so stations that receive the self-test frame ignore it.
const selfTestEtherType = 0x88b5

// selfTestFrameLen is the size of the self-test frame: the minimum
// Ethernet frame without FCS.
const selfTestFrameLen = 60

// selfTestPayload marks the self-test frame for anyone capturing it.
const selfTestPayload = "vnet pmd zero-copy transmit self-test"

type selfTestResult int

const (
	selfTestPassed selfTestResult = iota
	// selfTestFailed means that the frame did not complete although the
	// link is up: the driver cannot transmit in zero-copy mode.
	selfTestFailed
	// selfTestInconclusive means that nothing was learned, because the
	// link is down or the UMEM had no free frame.
	selfTestInconclusive
)

// binder is the interface negotiateBind drives a socket through. Socket
// implements it, and tests replace it to produce failures that no veth
// can, such as a zero-copy bind that succeeds but never transmits.
type binder interface {
	// bind binds with the given sxdp_flags, retrying while the queue is
	// busy.
	bind(flags uint16) error
	// options returns the XDP_OPTIONS of the bound socket.
	options() (uint32, error)
	// txSelfTest transmits one frame and waits for its completion; the
	// string details a result other than selfTestPassed.
	txSelfTest() (selfTestResult, string)
	// reopen closes the socket and creates a new one with its UMEM
	// registered and its rings mapped, not bound.
	reopen() error
}

// negotiateBind binds b in mode and reports whether it is in zero-copy
// mode, with a note that explains what auto mode chose when it did not
// get a zero-copy socket that passed the transmit self-test.
//
// Auto mode binds in zero-copy mode when the driver supports it, and
// then transmits one frame: a bind that succeeds but cannot transmit
// (as seen on some drivers) is replaced by a copy-mode socket. The
// explicit modes bind once and run no self-test. A socket that shares
// the UMEM of another (owner false) inherits its mode.
func negotiateBind(b binder, mode BindMode, owner bool) (zeroCopy bool, note string, err error) {
	if !owner {
		if err := b.bind(unix.XDP_SHARED_UMEM); err != nil {
			return false, "", err
		}
		opts, err := b.options()
		if err != nil {
			return false, "", fmt.Errorf("read XDP options: %w", err)
		}
		return opts&unix.XDP_OPTIONS_ZEROCOPY != 0, "", nil
	}

	switch mode {
	case BindCopy:
		return false, "", b.bind(flagsCopy)
	case BindZeroCopy:
		if err := b.bind(flagsZeroCopy); err != nil {
			return false, "", err
		}
		return true, "", nil
	case BindAuto:
	default:
		return false, "", fmt.Errorf("invalid bind mode %v (use auto, copy or zerocopy)", mode)
	}

	err = b.bind(flagsZeroCopy)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		// Drivers without zero-copy support return EOPNOTSUPP; EINVAL
		// comes back for the copy bind too when its cause is elsewhere.
		if err := b.bind(flagsCopy); err != nil {
			return false, "", err
		}
		return false, "the driver has no zero-copy support", nil
	}
	if err != nil {
		return false, "", err
	}

	result, detail := b.txSelfTest()
	switch result {
	case selfTestPassed:
		return true, "", nil
	case selfTestInconclusive:
		return true, "transmit self-test inconclusive: " + detail, nil
	}
	if err := b.reopen(); err != nil {
		return false, "", fmt.Errorf("reopen in copy mode after the zero-copy transmit self-test failed (%s): %w", detail, err)
	}
	if err := b.bind(flagsCopy); err != nil {
		return false, "", err
	}
	return false, "zero-copy transmit self-test failed: " + detail, nil
}

func (s *Socket) bind(flags uint16) error {
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(s.cfg.Ifindex), QueueID: uint32(s.cfg.Queue)}
	if flags&unix.XDP_SHARED_UMEM != 0 {
		sa.SharedUmemFD = uint32(s.umem.ownerFd)
	}
	return bindRetry(s.fd, sa)
}

func (s *Socket) options() (uint32, error) {
	opts, err := unix.GetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	return uint32(opts), err
}

func (s *Socket) reopen() error {
	err := s.unmapAndClose()
	s.fd = -1
	s.umem.reclaim(selfTestSocket)
	s.selfTestPending = false
	if err != nil {
		return err
	}
	return s.create()
}

// txSelfTest transmits one frame from the interface's MAC address to
// itself, with selfTestEtherType, and waits up to SelfTestTimeout for
// its completion. A link without carrier makes the result
// inconclusive, because a driver completes nothing then.
//
// A frame that has not completed stays in the kernel, tagged
// selfTestSocket: AddPort hands it to the port, and closing the socket
// reclaims it.
func (s *Socket) txSelfTest() (selfTestResult, string) {
	u := s.umem
	addr, ok := u.Alloc()
	if !ok {
		return selfTestInconclusive, "no free frame in the UMEM"
	}
	buildSelfTestFrame(u.Bytes(addr, selfTestFrameLen), s.mac)
	u.submitted(addr, selfTestSocket)
	s.tx.put(0, Desc{Addr: addr, Len: selfTestFrameLen})
	s.tx.submit(1)
	s.selfTestPending = true

	deadline := time.Now().Add(SelfTestTimeout)
	for first := true; ; first = false {
		if first || s.tx.needWakeup() {
			err := kick(s.fd)
			if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENXIO) {
				return selfTestInconclusive, fmt.Sprintf("sendto: %v", err)
			}
		}
		if s.comp.available(1) > 0 {
			u.completed(s.comp.get(0), selfTestSocket)
			s.comp.release(1)
			s.selfTestPending = false
			return selfTestPassed, ""
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !carrierUp(s.cfg.Ifindex) {
		return selfTestInconclusive, fmt.Sprintf("%s has no carrier", s.ifname)
	}
	return selfTestFailed, fmt.Sprintf("no completion within %v", SelfTestTimeout)
}

// buildSelfTestFrame writes the self-test frame into f.
func buildSelfTestFrame(f []byte, mac [6]byte) {
	clear(f)
	copy(f[0:6], mac[:])
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:14], selfTestEtherType)
	copy(f[14:], selfTestPayload)
}

// carrierUp reports whether the interface is up with carrier
// (IFF_RUNNING).
func carrierUp(ifindex int) bool {
	ifi, err := net.InterfaceByIndex(ifindex)
	return err == nil && ifi.Flags&net.FlagRunning != 0
}
