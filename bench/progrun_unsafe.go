package bench

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// progTestRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr
// (include/uapi/linux/bpf.h, Linux 5.18 and later for batch_size).
type progTestRunAttr struct {
	progFd      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// runLive runs the XDP program fd repeat times on data in live-frames
// mode, in batches of batch frames. Unlike ebpf.Program.Run it does not
// retry on EINTR, so a signal to the calling thread ends the call: the
// kernel checks for pending signals between batches.
func runLive(fd int, data []byte, repeat, batch uint32) error {
	attr := progTestRunAttr{
		progFd:     uint32(fd),
		dataSizeIn: uint32(len(data)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&data[0]))),
		repeat:     repeat,
		flags:      unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		batchSize:  batch,
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(data)
	if errno != 0 {
		return errno
	}
	return nil
}
