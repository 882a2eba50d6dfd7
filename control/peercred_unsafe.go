package control

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerGroups returns the supplementary groups of the process at the other
// end of the unix socket fd, as the kernel recorded them when it
// connected (SO_PEERGROUPS, Linux 4.13 and later). golang.org/x/sys/unix
// has no wrapper for this option that returns binary data.
func peerGroups(fd int) ([]uint32, error) {
	groups := make([]uint32, 64)
	for {
		size := uint32(len(groups) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&groups[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == unix.ERANGE && int(size/4) > len(groups):
			// The kernel stored the size it needs in size.
			groups = make([]uint32, size/4)
			continue
		case errno != 0:
			return nil, errno
		}
		return groups[:size/4], nil
	}
}
