package overlay

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/pmd"
)

// linkRetry is how often the watcher tries again to open an underlay
// interface that is gone or not yet usable, and to subscribe again after
// the kernel dropped link notifications.
const linkRetry = time.Second

// watchLinks follows the kernel's link notifications, so that the
// dataplane copes with interfaces that change under it:
//
//   - an underlay interface that goes down or up is logged and counted;
//   - an underlay interface that is deleted is taken out of the data path,
//     and put back when an interface of that name with the same IPv4
//     address exists again;
//   - a vnet whose devices are deleted gets new ones, so that it keeps
//     working as configured.
func (e *Engine) watchLinks() {
	defer e.bg.Done()
	for {
		updates := make(chan netlink.LinkUpdate, 64)
		done := make(chan struct{})
		err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				select {
				case <-e.stop:
				default:
					e.log.Warn("link notifications failed; subscribing again", zap.Error(err))
				}
			},
		})
		if err != nil {
			e.log.Error("subscribe to link notifications; changes of interfaces go unnoticed until it succeeds", zap.Error(err))
			close(done)
		} else {
			// Changes made before the subscription are found by looking.
			e.checkLinks()
			e.followLinks(updates)
			close(done)
			// The subscription's goroutine closes updates once the
			// socket is closed; it must not block on a full channel.
			for range updates {
			}
		}
		select {
		case <-e.stop:
			return
		case <-time.After(linkRetry):
		}
	}
}

// followLinks handles link notifications until the engine stops or the
// subscription ends. While an underlay interface is gone it also tries
// to open it again every linkRetry, because the address it needs may be
// added after the interface appears.
func (e *Engine) followLinks(updates <-chan netlink.LinkUpdate) {
	retry := time.NewTicker(linkRetry)
	defer retry.Stop()
	for {
		select {
		case <-e.stop:
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			e.linkChanged(u)
		case <-retry.C:
			e.reopenUnderlays()
		}
	}
}

// linkChanged handles one link notification.
func (e *Engine) linkChanged(u netlink.LinkUpdate) {
	attrs := u.Link.Attrs()
	deleted := u.Header.Type == unix.RTM_DELLINK
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	for i, us := range e.underlay {
		switch {
		case us.gone && !deleted && attrs.Name == us.port.name:
			e.reopenUnderlay(i)
		case us.gone || attrs.Index != us.port.ifindex:
		case deleted:
			e.underlayGone(i)
		default:
			us.setOperUp(e, operUp(attrs))
			e.setUnderlayMTU(i, attrs.MTU)
		}
	}
	if !deleted {
		return
	}
	for _, vs := range e.vnets {
		// The dataplane end is deleted with the pair. The user end alone
		// leaves this namespace also when it moves to another one.
		if vs.dpIdx != 0 && attrs.Index == vs.dpIdx {
			e.replaceDevices(vs)
		}
	}
}

// checkLinks compares the interfaces the dataplane uses with those that
// exist, for the changes no notification reported.
func (e *Engine) checkLinks() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	for i, us := range e.underlay {
		if us.gone {
			continue
		}
		l, err := netlink.LinkByIndex(us.port.ifindex)
		switch {
		case err != nil:
			e.underlayGone(i)
		default:
			us.setOperUp(e, operUp(l.Attrs()))
			e.setUnderlayMTU(i, l.Attrs().MTU)
		}
	}
	for _, vs := range e.vnets {
		if vs.dpIdx == 0 {
			continue
		}
		if _, err := netlink.LinkByIndex(vs.dpIdx); err != nil {
			e.replaceDevices(vs)
		}
	}
	e.reopenUnderlaysLocked()
}

// operUp reports whether a link can carry traffic: administratively up,
// and with an operational state of up, or unknown for drivers that do
// not report one.
func operUp(a *netlink.LinkAttrs) bool {
	if a.Flags&net.FlagUp == 0 {
		return false
	}
	return a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown
}

// setOperUp logs and counts a change of the interface's state.
func (us *underlayState) setOperUp(e *Engine, up bool) {
	if up == us.operUp {
		return
	}
	us.operUp = up
	if up {
		e.log.Info("underlay interface is up", zap.String("interface", us.port.name))
		return
	}
	us.downEvents.Add(1)
	e.log.Warn("underlay interface is down; vnet traffic over it stops until it is up", zap.String("interface", us.port.name))
}

// setUnderlayMTU follows a change of an underlay interface's MTU. The
// data path then fragments inner packets that no longer fit, or replies
// to them with ICMP "fragmentation needed", rather than sending packets
// the link drops. The vnet devices keep their MTU. The caller holds e.mu.
func (e *Engine) setUnderlayMTU(i, mtu int) {
	us := e.underlay[i]
	old := us.port
	if mtu <= 0 || mtu == old.mtu {
		return
	}
	port := *old
	port.mtu = mtu
	e.update(func(c *config) {
		c.underlay = append([]*underlayPort(nil), c.underlay...)
		c.underlay[i] = &port
	})
	us.port = &port
	log := e.log.With(zap.String("interface", port.name), zap.Int("mtu", mtu), zap.Int("previous_mtu", old.mtu))
	if mtu < old.mtu {
		log.Warn("underlay MTU lowered; larger inner packets get ICMP fragmentation needed, or are fragmented (recreate the vnets to lower their device MTU)")
	} else {
		log.Info("underlay MTU raised; the vnet devices keep their MTU until the vnets are recreated")
	}
	if err := pmd.CheckFrameFits(e.conf.Umem.FrameSize, mtu, frameTailroom); err != nil {
		log.Warn("frames of the new MTU do not fit the UMEM frames; larger frames are dropped until vnetd restarts", zap.Error(err))
	}
}

// underlayGone takes a deleted underlay interface out of the data path:
// its sockets close, and the published port has no queues. The caller
// holds e.mu.
func (e *Engine) underlayGone(i int) {
	us := e.underlay[i]
	e.log.Error("underlay interface was deleted; vnet traffic over it stops until an interface of that name with the same address exists again",
		zap.String("interface", us.port.name), zap.Stringer("addr", net.IP(us.port.addr[:])))
	us.gone, us.operUp = true, false
	us.goneEvents.Add(1)

	old := us.port
	gone := *old
	gone.ports = make([]pmd.PortID, len(old.ports))
	for wi := range gone.ports {
		gone.ports[wi] = -1
	}
	e.update(func(c *config) {
		c.underlay = append([]*underlayPort(nil), c.underlay...)
		c.underlay[i] = &gone
		c.bindings = cloneBindings(c.bindings)
		for wi, pid := range old.ports {
			if pid >= 0 {
				setBinding(c, wi, pid, binding{})
			}
		}
	})
	us.port = &gone
	if err := us.deactivate(e); err != nil {
		e.log.Debug("detach from the deleted underlay interface", zap.String("interface", old.name), zap.Error(err))
	}
	if us.hasSlot {
		e.slots.free(us.slot, us.queues)
		us.hasSlot = false
	}
	us.closeSockets(e)
	us.leave()
}

// reopenUnderlays tries to open the underlay interfaces that are gone.
func (e *Engine) reopenUnderlays() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reopenUnderlaysLocked()
}

func (e *Engine) reopenUnderlaysLocked() {
	if e.closed {
		return
	}
	for i, us := range e.underlay {
		if us.gone {
			e.reopenUnderlay(i)
		}
	}
}

// reopenUnderlay opens underlay interface i again after it was deleted,
// once an interface of that name with the same IPv4 address exists. The
// ESP senders of secure vnets are bound to the address, so another
// address needs a restart. The caller holds e.mu.
func (e *Engine) reopenUnderlay(i int) {
	old := e.underlay[i]
	if _, err := netlink.LinkByName(old.port.name); err != nil {
		return
	}
	us, err := e.openUnderlay(i, old.port.name)
	if err != nil {
		old.reopenFailed(e, err)
		return
	}

	if us.port.addr != old.port.addr {
		us.closeSockets(e)
		old.reopenFailed(e, fmt.Errorf("its address is %s, not %s (restart vnetd to use the new address)",
			net.IP(us.port.addr[:]), net.IP(old.port.addr[:])))
		return
	}
	us.downEvents.Store(old.downEvents.Load())
	us.goneEvents.Store(old.goneEvents.Load())

	e.update(func(c *config) {
		c.underlay = append([]*underlayPort(nil), c.underlay...)
		c.underlay[i] = us.port
		c.bindings = cloneBindings(c.bindings)
		for wi, pid := range us.port.ports {
			if pid >= 0 {
				setBinding(c, wi, pid, binding{kind: bindUnderlay, underlay: i})
			}
		}
	})
	e.underlay[i] = us
	if err := us.activate(e); err != nil {
		e.log.Error("activate the underlay interface again", zap.String("interface", us.port.name), zap.Error(err))
		e.underlayGone(i)
		return
	}
	e.updateSteering()
	us.setOperUp(e, true)
	e.log.Info("underlay interface is back", zap.String("interface", us.port.name), zap.Int("ifindex", us.port.ifindex))
}

// reopenFailed logs why a deleted underlay interface could not be opened
// again, once per reason, since the watcher retries every second.
func (us *underlayState) reopenFailed(e *Engine, err error) {
	if msg := err.Error(); msg != us.reopenError {
		us.reopenError = msg
		e.log.Warn("cannot open the underlay interface again yet", zap.String("interface", us.port.name), zap.Error(err))
	}
}

// replaceDevices gives a vnet whose veth pair was deleted outside vnetd
// a new pair, with the vnet's tables and keys kept. The caller holds
// e.mu.
func (e *Engine) replaceDevices(vs *vnetState) {
	vn := vs.vn
	log := e.log.With(zap.Stringer("vnet", vn.id), zap.String("device", vn.device))
	log.Warn("vnet devices were deleted outside vnetd; creating them again (attach the device to its bridge again)")
	var errs []error
	if err := e.closeVnetPorts(vs); err != nil {
		errs = append(errs, err)
	}
	vs.dpIdx, vs.userIdx, vs.created = 0, 0, false
	if err := e.createDevices(vs); err != nil {
		errs = append(errs, err)
	} else if err := e.openVnetPorts(vs); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// The vnet stays configured without a working device; vnet.del
		// removes it.
		log.Error("vnet has no working device; delete it and add it again", zap.Error(err))
		return
	}
	vs.replaced.Add(1)
	log.Info("vnet devices created again", zap.String("dataplane_device", vn.dpDevice))
}
