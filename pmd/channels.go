package pmd

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// RxQueues returns the number of receive queues that interface name has
// in use: its combined channels plus its receive-only channels, as
// ethtool -l shows them. An AF_XDP socket serves one of these queues, so
// the dataplane needs one socket per queue to see all of the interface's
// traffic.
func RxQueues(name string) (int, error) {
	if len(name) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("read channels of %s: interface name longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("read channels of %s: %w", name, err)
	}
	defer unix.Close(fd)
	ch, err := getChannels(fd, name)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return 0, fmt.Errorf("read channels of %s: the driver does not report them: %w", name, err)
		}
		return 0, fmt.Errorf("read channels of %s: %w", name, err)
	}
	n := int(ch.combinedCount) + int(ch.rxCount)
	if n == 0 {
		return 0, fmt.Errorf("read channels of %s: the driver reports no receive channels", name)
	}
	return n, nil
}
