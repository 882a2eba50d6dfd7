package xdpprog

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal receive-only AF_XDP socket in copy mode, enough to check that
// the program's redirects arrive. The dataplane's socket layer lives in
// package pmd.

const (
	testXSKFrameSize = 2048
	testXSKFrames    = 64
	testXSKRingSize  = 64 // fill, completion and RX ring entries
)

type testXSK struct {
	fd   int
	umem []byte
	fill []byte
	rx   []byte

	fillProducer *uint32
	fillAddrs    []uint64
	rxProducer   *uint32
	rxConsumer   *uint32
	rxDescs      []unix.XDPDesc
}

// openTestXSK creates a socket bound to queue of interface ifindex in the
// calling thread's namespace, with every UMEM frame on the fill ring. The
// socket is closed when the test ends.
func openTestXSK(t *testing.T, ifindex, queue int) *testXSK {
	t.Helper()
	x := &testXSK{fd: -1}
	t.Cleanup(x.close)

	var err error
	x.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_XDP): %v", err)
	}
	x.umem, err = unix.Mmap(-1, 0, testXSKFrames*testXSKFrameSize,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		t.Fatalf("mmap UMEM: %v", err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))),
		Len:  uint64(len(x.umem)),
		Size: testXSKFrameSize,
	}
	if err := setsockoptPointer(x.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		t.Fatalf("setsockopt(XDP_UMEM_REG): %v", err)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		if err := unix.SetsockoptInt(x.fd, unix.SOL_XDP, opt, testXSKRingSize); err != nil {
			t.Fatalf("setsockopt(SOL_XDP, %d, %d): %v", opt, testXSKRingSize, err)
		}
	}

	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0); errno != 0 {
		t.Fatalf("getsockopt(XDP_MMAP_OFFSETS): %v", errno)
	}

	x.fill, err = unix.Mmap(x.fd, unix.XDP_UMEM_PGOFF_FILL_RING, int(off.Fr.Desc)+testXSKRingSize*8,
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		t.Fatalf("mmap fill ring: %v", err)
	}
	x.fillProducer = (*uint32)(unsafe.Pointer(&x.fill[off.Fr.Producer]))
	x.fillAddrs = unsafe.Slice((*uint64)(unsafe.Pointer(&x.fill[off.Fr.Desc])), testXSKRingSize)

	x.rx, err = unix.Mmap(x.fd, unix.XDP_PGOFF_RX_RING, int(off.Rx.Desc)+testXSKRingSize*int(unsafe.Sizeof(unix.XDPDesc{})),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		t.Fatalf("mmap RX ring: %v", err)
	}
	x.rxProducer = (*uint32)(unsafe.Pointer(&x.rx[off.Rx.Producer]))
	x.rxConsumer = (*uint32)(unsafe.Pointer(&x.rx[off.Rx.Consumer]))
	x.rxDescs = unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&x.rx[off.Rx.Desc])), testXSKRingSize)

	// The ring has as many entries as the UMEM has frames, so all of them
	// fit.
	for i := range x.fillAddrs {
		x.fillAddrs[i] = uint64(i * testXSKFrameSize)
	}
	atomic.StoreUint32(x.fillProducer, testXSKRingSize)

	// A queue whose previous socket has just closed stays busy for a few
	// milliseconds while the kernel releases it.
	sa := &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		err = unix.Bind(x.fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("bind AF_XDP socket to ifindex %d queue %d: %v", ifindex, queue, err)
	}
	return x
}

func setsockoptPointer(fd, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), size, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// receive returns copies of the frames that arrive on the RX ring within
// wait. It stops early once max frames have arrived.
func (x *testXSK) receive(t *testing.T, wait time.Duration, max int) [][]byte {
	t.Helper()
	var frames [][]byte
	deadline := time.Now().Add(wait)
	for len(frames) < max {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(x.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll AF_XDP socket: %v", err)
		}
		consumer := atomic.LoadUint32(x.rxConsumer)
		producer := atomic.LoadUint32(x.rxProducer)
		for ; consumer != producer; consumer++ {
			d := x.rxDescs[consumer%testXSKRingSize]
			frames = append(frames, append([]byte(nil), x.umem[d.Addr:d.Addr+uint64(d.Len)]...))
		}
		atomic.StoreUint32(x.rxConsumer, consumer)
	}
	return frames
}

func (x *testXSK) close() {
	for _, m := range [][]byte{x.rx, x.fill} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	if x.fd >= 0 {
		unix.Close(x.fd)
	}
	if x.umem != nil {
		unix.Munmap(x.umem)
	}
}
