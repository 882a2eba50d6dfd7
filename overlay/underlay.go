package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/pmd/xdpprog"
)

// underlayState is the control side of one underlay interface: its
// sockets, XSKMAP slots, XDP attachment and group membership.
type underlayState struct {
	port    *underlayPort
	sockets []*pmd.Socket // per worker, nil where the worker has no queue
	pmdPort []*pmd.Port
	slot    uint32
	queues  int
	hasSlot bool
	attach  *xdpprog.Attachment
	joinFd  int
	group   [4]byte

	// operUp is the interface's last known state, and gone is set while
	// the interface is deleted. reopenError is the last reason it could
	// not be opened again, logged once.
	operUp      bool
	gone        bool
	reopenError string
	// downEvents and goneEvents count the times the interface went down
	// and was deleted.
	downEvents, goneEvents atomic.Uint64
}

// openUnderlay reads an interface's addresses and opens one socket per
// worker on it.
func (e *Engine) openUnderlay(i int, name string) (*underlayState, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find underlay interface %s: %w (ip link lists the interfaces)", name, err)
	}
	attrs := l.Attrs()
	if attrs.Flags&net.FlagUp == 0 || attrs.OperState == netlink.OperDown {
		e.log.Warn("underlay interface is down; vnet traffic flows once it is up", zap.String("interface", name))
	}
	if len(attrs.HardwareAddr) != 6 {
		return nil, fmt.Errorf("underlay interface %s has no Ethernet address (use an Ethernet interface)", name)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("underlay interface %s has no IPv4 address (add one with: ip addr add ADDR/LEN dev %s)", name, name)
	}
	// The queues in use, as ethtool -l shows them; a bind to another
	// queue fails. Without that count, the queues the device has.
	inUse, err := rxQueues(name)
	if err != nil {
		inUse = attrs.NumRxQueues
	}
	queues := e.conf.Queues
	if inUse > 0 && inUse < queues {
		e.log.Warn("underlay interface has fewer receive queues than workers; the other workers do not serve it",
			zap.String("interface", name), zap.Int("queues", inUse), zap.Int("workers", queues))
		queues = inUse
	}
	if inUse > queues {
		// The XDP program passes vnet packets from the other queues to
		// the kernel and counts them as queue_out_of_range.
		e.log.Warn("underlay interface has more receive queues than workers; vnet packets on the others are lost",
			zap.String("interface", name), zap.Int("queues", inUse), zap.Int("workers", queues),
			zap.String("fix", fmt.Sprintf("run one worker per queue (--queues %d), or reduce the interface's queues with ethtool -L %s", inUse, name)))
	}
	up := &underlayPort{
		index:   i,
		name:    name,
		ifindex: attrs.Index,
		mac:     wire.MAC(attrs.HardwareAddr),
		addr:    [4]byte(addrs[0].IP.To4()),
		prefix:  prefixOf(addrs[0].IPNet),
		mtu:     attrs.MTU,
		ports:   make([]pmd.PortID, len(e.workers)),
	}
	us := &underlayState{port: up, queues: queues, joinFd: -1, sockets: make([]*pmd.Socket, len(e.workers)), pmdPort: make([]*pmd.Port, len(e.workers)),
		operUp: operUp(attrs)}
	for wi, ew := range e.workers {
		up.ports[wi] = -1
		if wi >= queues {
			continue
		}
		s, err := pmd.Open(ew.w.Umem(), pmd.SocketConfig{Ifindex: attrs.Index, Queue: wi, Rings: underlayRings, Mode: e.conf.BindMode, Tailroom: frameTailroom, TxBudget: txBudget})
		if err != nil {
			us.closeSockets(e)
			return nil, err
		}
		p, err := ew.w.AddPort(s, pmd.PortConfig{Name: fmt.Sprintf("%s queue %d", name, wi)})
		if err != nil {
			us.closeSockets(e)
			return nil, err
		}
		us.sockets[wi] = s
		us.pmdPort[wi] = p
		up.ports[wi] = p.ID()
		e.log.Info("underlay socket bound", zap.String("interface", name), zap.Int("queue", wi),
			zap.Stringer("bind_mode", s.Mode()), zap.String("bind_note", s.BindNote()), zap.Int("worker", wi))
	}
	e.log.Info("underlay interface", zap.String("interface", name), zap.Stringer("addr", net.IP(up.addr[:])),
		zap.Int("mtu", up.mtu), zap.Int("queues", queues))
	return us, nil
}

// prefixOf returns the IPv4 subnet of an interface address.
func prefixOf(n *net.IPNet) netip.Prefix {
	ones, _ := n.Mask.Size()
	a, _ := netip.AddrFromSlice(n.IP.To4())
	return netip.PrefixFrom(a, ones).Masked()
}

func (us *underlayState) closeSockets(e *Engine) {
	for wi, p := range us.pmdPort {
		if p != nil {
			_ = e.workers[wi].w.RemovePort(p)
			us.pmdPort[wi] = nil
		}
	}
}

// activate puts the sockets in the XSKMAP, attaches the XDP program and
// joins the group. Until the program is attached the kernel keeps
// receiving everything.
func (us *underlayState) activate(e *Engine) error {
	slot, err := e.slots.alloc(us.queues)
	if err != nil {
		return err
	}
	us.slot, us.hasSlot = slot, true
	for wi, s := range us.sockets {
		if s != nil {
			if err := e.prog.SetSocket(slot+uint32(wi), s.Fd()); err != nil {
				return err
			}
		}
	}
	if err := us.setPort(e, false); err != nil {
		return err
	}
	a, err := e.prog.Attach(us.port.ifindex, e.conf.XDPMode)
	if err != nil {
		return err
	}
	us.attach = a
	e.log.Info("XDP program attached", zap.String("interface", us.port.name), zap.Stringer("xdp_mode", a.Mode()))
	return us.join(e, e.cfg.Load().group)
}

// setPort writes the interface's entry in the XDP program's ports map.
// ESP is steered to the dataplane only when esp is set.
func (us *underlayState) setPort(e *Engine, esp bool) error {
	flags := xdpprog.FlagEtherIP | xdpprog.FlagFragments
	if esp {
		flags |= xdpprog.FlagESP
	}
	return e.prog.SetPort(us.port.ifindex, xdpprog.Port{
		Kind:    xdpprog.KindUnderlay,
		Base:    us.slot,
		Queues:  uint32(us.queues),
		Flags:   flags,
		UDPPort: wire.Port,
	})
}

// join makes the kernel a member of the group on this interface, so that
// IGMP snooping switches and the NIC's multicast filter deliver group
// traffic. The dataplane itself receives the traffic through XDP.
func (us *underlayState) join(e *Engine, group [4]byte) error {
	if us.joinFd < 0 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("create group membership socket for %s: %w", us.port.name, err)
		}
		us.joinFd = fd
	} else {
		mreq := &unix.IPMreqn{Multiaddr: us.group, Ifindex: int32(us.port.ifindex)}
		if err := unix.SetsockoptIPMreqn(us.joinFd, unix.IPPROTO_IP, unix.IP_DROP_MEMBERSHIP, mreq); err != nil {
			e.log.Warn("leave group failed", zap.String("interface", us.port.name), zap.Error(err))
		}
	}
	mreq := &unix.IPMreqn{Multiaddr: group, Ifindex: int32(us.port.ifindex)}
	if err := unix.SetsockoptIPMreqn(us.joinFd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
		return fmt.Errorf("join group %s on %s: %w", net.IP(group[:]), us.port.name, err)
	}
	us.group = group
	e.log.Info("joined group", zap.String("interface", us.port.name), zap.Stringer("group", net.IP(group[:])))
	return nil
}

// leave closes the membership socket, which leaves the group.
func (us *underlayState) leave() {
	if us.joinFd >= 0 {
		unix.Close(us.joinFd)
		us.joinFd = -1
	}
}

// deactivate detaches the XDP program and clears the maps, so that the
// kernel receives the interface's traffic again.
func (us *underlayState) deactivate(e *Engine) error {
	var errs []error
	if us.attach != nil {
		if err := us.attach.Close(); err != nil {
			errs = append(errs, err)
		}
		us.attach = nil
		e.log.Info("XDP program detached", zap.String("interface", us.port.name))
	}
	if err := e.prog.DeletePort(us.port.ifindex); err != nil {
		errs = append(errs, err)
	}
	for wi, s := range us.sockets {
		if s != nil {
			_ = e.prog.DeleteSocket(us.slot + uint32(wi))
		}
	}
	return errors.Join(errs...)
}
