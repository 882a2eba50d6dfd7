package xdpprog

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// AttachMode is the XDP hook an attachment uses.
type AttachMode int

const (
	// ModeAuto lets the kernel choose: native if the driver supports XDP,
	// generic otherwise.
	ModeAuto AttachMode = iota
	// ModeNative runs the program in the driver (XDP_FLAGS_DRV_MODE).
	ModeNative
	// ModeGeneric runs the program on socket buffers after the driver
	// (XDP_FLAGS_SKB_MODE). It works on every interface but is slower.
	// On veth (Linux 6.18) every frame arrives with rx_queue_index 0.
	ModeGeneric
)

func (m AttachMode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

func (m AttachMode) flags() (link.XDPAttachFlags, error) {
	switch m {
	case ModeAuto:
		return 0, nil
	case ModeNative:
		return link.XDPDriverMode, nil
	case ModeGeneric:
		return link.XDPGenericMode, nil
	}
	return 0, fmt.Errorf("invalid attach mode %d (use ModeAuto, ModeNative or ModeGeneric)", int(m))
}

// Attachment is the program attached to one interface through a bpf_link.
// The kernel detaches it when the link is closed or the process exits, so
// a crashed dataplane leaves no program behind.
type Attachment struct {
	program *Program
	ifindex int
	ifname  string
	mode    AttachMode

	closeOnce sync.Once
	closeErr  error
	link      link.Link
}

// Attach attaches the program to interface ifindex in the calling thread's
// network namespace.
func (p *Program) Attach(ifindex int, mode AttachMode) (*Attachment, error) {
	flags, err := mode.flags()
	if err != nil {
		return nil, fmt.Errorf("attach xdp program to ifindex %d: %w", ifindex, err)
	}
	iface, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("attach xdp program to ifindex %d: look up interface: %w", ifindex, err)
	}
	name := iface.Attrs().Name

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("attach xdp program to %s: %w", name, ErrClosed)
	}

	l, err := link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: flags})
	if err != nil {
		return nil, fmt.Errorf("attach xdp program to %s in %s mode: %w%s", name, mode, err, attachHint(err, iface))
	}
	a := &Attachment{program: p, ifindex: ifindex, ifname: name, link: l}

	a.mode, err = attachedMode(ifindex)
	if err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("attach xdp program to %s: %w", name, err)
	}
	p.attachments[a] = struct{}{}
	return a, nil
}

// attachHint returns the fix for a failed attach, in parentheses, or "".
func attachHint(err error, iface netlink.Link) string {
	name := iface.Attrs().Name
	switch {
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		// EBUSY: a program is attached in the requested mode (or through
		// netlink). EEXIST: one is attached in the other mode.
		return fmt.Sprintf(" (another XDP program is attached to %s; detach it with `ip link set dev %s xdp off`)", name, name)
	case errors.Is(err, unix.ERANGE):
		if iface.Type() == "veth" {
			return fmt.Sprintf(" (the MTU of the veth peer of %s is too large for an XDP program without multi-buffer support; "+
				"lower the peer's MTU to 3506 or less with 4 KiB pages, or load the program with Options.Frags)", name)
		}
		return fmt.Sprintf(" (the MTU of %s is too large for an XDP program without multi-buffer support; "+
			"lower it or load the program with Options.Frags)", name)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Sprintf(" (the driver of %s has no native XDP support; use ModeGeneric or ModeAuto)", name)
	}
	return ""
}

// attachedMode reads the XDP mode in effect on interface ifindex from its
// IFLA_XDP attributes.
func attachedMode(ifindex int) (AttachMode, error) {
	iface, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("query xdp mode: %w", err)
	}
	xdp := iface.Attrs().Xdp
	if xdp == nil {
		return 0, errors.New("query xdp mode: no XDP attributes reported")
	}
	switch xdp.AttachMode {
	case nl.XDP_ATTACHED_DRV:
		return ModeNative, nil
	case nl.XDP_ATTACHED_SKB:
		return ModeGeneric, nil
	}
	return 0, fmt.Errorf("query xdp mode: unexpected attach mode %d (expected driver or generic)", xdp.AttachMode)
}

// Mode returns the mode in effect, as the kernel reported it right after
// the attach. For ModeAuto it is the mode the kernel chose.
func (a *Attachment) Mode() AttachMode { return a.mode }

// Ifindex returns the interface index the program is attached to.
func (a *Attachment) Ifindex() int { return a.ifindex }

// Close detaches the program. It is safe to call more than once.
func (a *Attachment) Close() error {
	a.closeOnce.Do(func() {
		if err := a.link.Close(); err != nil {
			a.closeErr = fmt.Errorf("detach xdp program from %s: %w", a.ifname, err)
		}
		a.program.mu.Lock()
		delete(a.program.attachments, a)
		a.program.mu.Unlock()
	})
	return a.closeErr
}
