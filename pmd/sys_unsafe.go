package pmd

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// setsockoptUmemReg registers a UMEM area with an AF_XDP socket. The
// struct is passed whole; x/sys has no typed wrapper for it.
func setsockoptUmemReg(fd int, reg *unix.XDPUmemReg) error {
	return setsockopt(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(reg), unsafe.Sizeof(*reg))
}

func getsockoptMmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	err := getsockopt(fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off))
	return off, err
}

func getsockoptStatistics(fd int) (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	err := getsockopt(fd, unix.SOL_XDP, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st))
	return st, err
}

func setsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), size, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func getsockopt(fd, level, name int, val unsafe.Pointer, size uintptr) error {
	n := uint32(size)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(val), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// kick asks the kernel to process the TX ring of a socket. In copy mode
// this is where transmission happens, up to XDP_MAX_TX_SKB_BUDGET
// descriptors per call.
func kick(fd int) error {
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// wakeRx asks a zero-copy driver to process the fill ring, which it
// requests through the fill ring's need_wakeup flag.
func wakeRx(fd int) error {
	_, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// ringView maps the ring layout the kernel reports onto a mapped region:
// pointers to the producer, consumer and flags words and the entry array.
func ringView[T any](mem []byte, off unix.XDPRingOffset, entries uint32) (prod, cons, flags *uint32, ents []T) {
	base := unsafe.Pointer(unsafe.SliceData(mem))
	prod = (*uint32)(unsafe.Add(base, off.Producer))
	cons = (*uint32)(unsafe.Add(base, off.Consumer))
	flags = (*uint32)(unsafe.Add(base, off.Flags))
	ents = unsafe.Slice((*T)(unsafe.Add(base, off.Desc)), entries)
	return prod, cons, flags, ents
}

// areaAddress returns the user-space address of a mapped UMEM area.
func areaAddress(area []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(area))))
}

func sizeofDesc() uintptr { return unsafe.Sizeof(unix.XDPDesc{}) }

// alignedBytes returns n zeroed bytes aligned to 8 bytes, for rings that
// a test simulates in ordinary memory.
func alignedBytes(n int) []byte {
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), n)
}

// ethtoolChannels is struct ethtool_channels of linux/ethtool.h.
type ethtoolChannels struct {
	cmd                                         uint32
	maxRx, maxTx, maxOther, maxCombined         uint32
	rxCount, txCount, otherCount, combinedCount uint32
}

// ifreqData is struct ifreq with the ifr_data member of the union, padded
// to the union's 24 bytes.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// getChannels reads the channel counts of interface name with the
// ETHTOOL_GCHANNELS ioctl (what ethtool -l prints).
func getChannels(fd int, name string) (ethtoolChannels, error) {
	ch := ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	ifr.data = unsafe.Pointer(&ch)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return ch, errno
	}
	return ch, nil
}
