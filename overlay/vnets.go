package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/pmd/xdpprog"
)

// MaxDeviceName is the longest vnet device name. The dataplane end of
// the veth pair is named after it with a '+' appended, which must fit in
// the kernel's 15-character limit.
const MaxDeviceName = 14

// DataplaneSuffix is appended to a vnet's device name to name the veth
// end that the dataplane polls.
const DataplaneSuffix = "+"

var deviceNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// CheckDeviceName returns an error unless name can name a vnet device.
func CheckDeviceName(name string) error {
	if name == "" || len(name) > MaxDeviceName {
		return fmt.Errorf("invalid device name %q: %w (use 1 to %d characters)", name, ErrInvalid, MaxDeviceName)
	}
	if !deviceNameRE.MatchString(name) {
		return fmt.Errorf("invalid device name %q: %w (use letters, digits, '_', '.' and '-')", name, ErrInvalid)
	}
	return nil
}

// vnetState is the control side of a vnet: its devices and sockets.
type vnetState struct {
	vn      *vnet
	userIdx int
	dpIdx   int
	sockets []*pmd.Socket
	ports   []*pmd.Port
	slot    uint32
	hasSlot bool
	// created is set once the veth pair exists, so that cleanup never
	// deletes an interface it did not make.
	created bool
	queues  int
	attach  *xdpprog.Attachment
	// replaced counts the times the devices were deleted outside vnetd
	// and created again.
	replaced atomic.Uint64
}

// vnetMTU returns the MTU of a vnet device: the largest inner IP packet
// whose VUDP packet, sealed in ESP for a secure vnet, fits the smallest
// underlay MTU, and at most 1500.
func (e *Engine) vnetMTU(mode esp.Mode) int {
	mtu := 1500
	for _, us := range e.underlay {
		m := us.port.mtu - wire.EncapLen
		if mode != 0 {
			// After the outer IPv4 header: UDP, the message header,
			// EtherIP and the inner Ethernet header precede the inner
			// packet.
			const before = wire.EncapLen - wire.EthHeaderLen - wire.IPv4HeaderLen + wire.EthHeaderLen
			m = mode.MaxPayload(us.port.mtu-wire.IPv4HeaderLen) - before
		}
		if m < mtu {
			mtu = m
		}
	}
	return mtu
}

// espMode maps a security level to its ESP mode.
func espMode(s Security) esp.Mode {
	switch s {
	case SecurityAuth:
		return esp.ModeAuth
	case SecurityConf:
		return esp.ModeConf
	}
	return 0
}

// AddVnet creates a vnet and its devices: a veth pair whose end named
// cfg.Device is for the user, and whose other end the dataplane polls.
func (e *Engine) AddVnet(c VnetConfig) error {
	if err := c.ID.CheckUsable(); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if c.Device == "" {
		c.Device = c.ID.DefaultDevice()
	}
	if err := CheckDeviceName(c.Device); err != nil {
		return err
	}
	switch c.Security {
	case SecurityNone:
		if len(c.Key) > 0 {
			return fmt.Errorf("vnet %s: %w (a key needs security auth or conf)", c.ID, ErrInvalid)
		}
	case SecurityAuth, SecurityConf:
		if len(c.Key) != 16 && len(c.Key) != 32 {
			return fmt.Errorf("vnet %s: security %s needs a key of 16 or 32 bytes: %w (give one with (key HEX))", c.ID, c.Security, ErrInvalid)
		}
	default:
		return fmt.Errorf("vnet %s: security %d: %w", c.ID, c.Security, ErrInvalid)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("add vnet: dataplane is closed")
	}
	if _, ok := e.vnets[c.ID]; ok {
		return fmt.Errorf("vnet %s: %w", c.ID, ErrExists)
	}
	for _, vs := range e.vnets {
		if vs.vn.device == c.Device {
			return fmt.Errorf("device %s is used by vnet %s: %w (choose another device name: vnetif, or vn vnet-create -v)", c.Device, vs.vn.id, ErrExists)
		}
	}
	if _, err := netlink.LinkByName(c.Device + DataplaneSuffix); err != nil {
		if _, err := netlink.LinkByName(c.Device); err == nil {
			return fmt.Errorf("device %s: %w (an interface of that name exists; choose another device name: vnetif, or vn vnet-create -v)", c.Device, ErrExists)
		}
	}
	index, ok := e.indices.alloc()
	if !ok {
		return fmt.Errorf("vnet %s: %w (all %d vnet indices are in use)", c.ID, ErrInvalid, maxVnets)
	}
	mode := espMode(c.Security)
	mtu := e.vnetMTU(mode)
	vn := &vnet{
		id:       c.ID,
		index:    index,
		device:   c.Device,
		dpDevice: c.Device + DataplaneSuffix,
		security: c.Security,
		mtu:      mtu,
		maxFrame: mtu + wire.EthHeaderLen + 4,
		ports:    make([]pmd.PortID, len(e.workers)),
		stats:    make([]vnetStats, len(e.workers)),
		varp:     newMacTable(e.limits.MaxVarpEntries),
		vifs:     newMacTable(e.limits.MaxVifs),
		limiters: make([]vnetLimiters, len(e.workers)),
		mode:     mode,
	}
	vs := &vnetState{vn: vn, queues: len(e.workers)}
	if mode != 0 {
		if err := e.addKey(vn, c.Key); err != nil {
			e.indices.release(index)
			return err
		}
	}
	if err := e.createVnet(vs); err != nil {
		if rerr := e.removeVnet(vs, true); rerr != nil {
			e.log.Error("clean up after failed vnet.add", zap.Stringer("vnet", c.ID), zap.Error(rerr))
		}
		return err
	}
	e.vnets[c.ID] = vs
	if mode != 0 {
		e.updateSteering()
	}
	e.log.Info("vnet added", zap.Stringer("vnet", c.ID), zap.Stringer("security", c.Security), zap.String("device", vn.device),
		zap.String("dataplane_device", vn.dpDevice), zap.Int("mtu", mtu), zap.Stringer("xdp_mode", vs.attach.Mode()))
	return nil
}

// dataplaneAlias is the alias of a dataplane end, by which a vnetd that
// restarts after a crash recognises the pairs its predecessor made.
func dataplaneAlias(device string) string {
	return "vnetd dataplane end of " + device
}

// adopt takes over a veth pair that an earlier vnetd created for the same
// device name and left behind, so that the user end keeps its bridge or
// namespace. It reports false when there is no such pair. A pair with
// too few queues for the workers is deleted and made anew.
func (e *Engine) adopt(vs *vnetState) (bool, error) {
	vn := vs.vn
	dp, err := netlink.LinkByName(vn.dpDevice)
	if err != nil {
		return false, nil
	}
	if dp.Type() != "veth" || dp.Attrs().Alias != dataplaneAlias(vn.device) {
		return false, fmt.Errorf("device %s: %w (an interface of that name exists and vnetd did not make it; rename it or choose another device name: vnetif, or vn vnet-create -v)", vn.dpDevice, ErrExists)
	}
	if dp.Attrs().NumRxQueues < vs.queues || dp.Attrs().NumTxQueues < vs.queues {
		e.log.Warn("left-over vnet devices have too few queues; replacing them (VMs must be attached again)",
			zap.String("device", vn.device), zap.Int("queues", dp.Attrs().NumRxQueues), zap.Int("workers", vs.queues))
		if err := netlink.LinkDel(dp); err != nil {
			return false, fmt.Errorf("delete left-over device %s: %w", vn.dpDevice, err)
		}
		return false, nil
	}
	vs.created = true
	vs.dpIdx = dp.Attrs().Index
	if err := netlink.LinkSetMTU(dp, vn.mtu); err != nil {
		return true, fmt.Errorf("set MTU %d on %s: %w", vn.mtu, vn.dpDevice, err)
	}
	if err := netlink.LinkSetUp(dp); err != nil {
		return true, fmt.Errorf("set %s up: %w", vn.dpDevice, err)
	}
	// The user end may have been moved to another namespace.
	if user, err := netlink.LinkByName(vn.device); err == nil {
		vs.userIdx = user.Attrs().Index
		if err := netlink.LinkSetMTU(user, vn.mtu); err != nil {
			return true, fmt.Errorf("set MTU %d on %s: %w", vn.mtu, vn.device, err)
		}
		if err := netlink.LinkSetUp(user); err != nil {
			return true, fmt.Errorf("set %s up: %w", vn.device, err)
		}
	}
	e.log.Info("adopted left-over vnet devices", zap.String("device", vn.device), zap.String("dataplane_device", vn.dpDevice))
	return true, nil
}

func (e *Engine) createVnet(vs *vnetState) error {
	adopted, err := e.adopt(vs)
	if err != nil {
		return err
	}
	if !adopted {
		if err := e.createDevices(vs); err != nil {
			return err
		}
	}
	return e.openVnetPorts(vs)
}

// createDevices creates the veth pair of a vnet and sets both ends up.
func (e *Engine) createDevices(vs *vnetState) error {
	vn := vs.vn
	q := uint32(vs.queues)
	veth := &netlink.Veth{
		LinkAttrs:       netlink.LinkAttrs{Name: vn.device, MTU: vn.mtu, NumTxQueues: vs.queues, NumRxQueues: vs.queues},
		PeerName:        vn.dpDevice,
		PeerMTU:         uint32(vn.mtu),
		PeerNumTxQueues: q,
		PeerNumRxQueues: q,
		PeerTxQLen:      -1,
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair %s and %s: %w", vn.device, vn.dpDevice, err)
	}
	vs.created = true
	user, err := netlink.LinkByName(vn.device)
	if err != nil {
		return fmt.Errorf("find %s: %w", vn.device, err)
	}
	dp, err := netlink.LinkByName(vn.dpDevice)
	if err != nil {
		return fmt.Errorf("find %s: %w", vn.dpDevice, err)
	}
	vs.userIdx, vs.dpIdx = user.Attrs().Index, dp.Attrs().Index
	if err := netlink.LinkSetAlias(dp, dataplaneAlias(vn.device)); err != nil {
		return fmt.Errorf("set alias of %s: %w", vn.dpDevice, err)
	}
	if err := netlink.LinkSetUp(dp); err != nil {
		return fmt.Errorf("set %s up: %w", vn.dpDevice, err)
	}
	if err := netlink.LinkSetUp(user); err != nil {
		return fmt.Errorf("set %s up: %w", vn.device, err)
	}
	return nil
}

// openVnetPorts opens the sockets on the dataplane end, publishes the
// vnet to the data path and attaches the XDP program.
func (e *Engine) openVnetPorts(vs *vnetState) error {
	vn := vs.vn
	q := uint32(vs.queues)

	// Sockets first, so that the program never steers to an empty
	// slot; the program is attached last.
	for wi, ew := range e.workers {
		// veth has no zero-copy mode. Copy mode also lets a worker that
		// serves no underlay queue open its first socket here.
		s, err := pmd.Open(ew.w.Umem(), pmd.SocketConfig{Ifindex: vs.dpIdx, Queue: wi, Rings: deviceRings, Mode: pmd.BindCopy, Tailroom: frameTailroom, TxBudget: txBudget})
		if err != nil {
			return err
		}
		p, err := ew.w.AddPort(s, pmd.PortConfig{Name: fmt.Sprintf("%s queue %d", vn.dpDevice, wi), FillTarget: deviceFillTarget})
		if errors.Is(err, pmd.ErrUmemFull) {
			return fmt.Errorf("vnet %s: %w (start vnetd with more --umem-frames)", vn.id, err)
		}
		if err != nil {
			return fmt.Errorf("vnet %s: %w", vn.id, err)
		}
		vs.sockets = append(vs.sockets, s)
		vs.ports = append(vs.ports, p)
		vn.ports[wi] = p.ID()
	}
	e.update(func(c *config) {
		c.vnets = cloneVnets(c.vnets)
		c.vnets[vn.id] = vn
		c.bindings = cloneBindings(c.bindings)
		for wi, p := range vs.ports {
			setBinding(c, wi, p.ID(), binding{kind: bindDevice, vnet: vn})
		}
	})
	slot, err := e.slots.alloc(vs.queues)
	if err != nil {
		return err
	}
	vs.slot, vs.hasSlot = slot, true
	for wi, s := range vs.sockets {
		if err := e.prog.SetSocket(slot+uint32(wi), s.Fd()); err != nil {
			return err
		}
	}
	if err := e.prog.SetPort(vs.dpIdx, xdpprog.Port{Kind: xdpprog.KindDevice, Base: slot, Queues: q}); err != nil {
		return err
	}
	// Native mode: with generic XDP on a veth every frame arrives on
	// queue 0 and GSO frames are dropped.
	a, err := e.prog.Attach(vs.dpIdx, xdpprog.ModeNative)
	if err != nil {
		return err
	}
	vs.attach = a
	return nil
}

func cloneVnets(m map[wire.VnetID]*vnet) map[wire.VnetID]*vnet {
	out := make(map[wire.VnetID]*vnet, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// DeleteVnet removes a vnet, its devices and every table entry of it.
func (e *Engine) DeleteVnet(id wire.VnetID) error {
	if err := id.CheckUsable(); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	vs, ok := e.vnets[id]
	if !ok {
		return fmt.Errorf("vnet %s: %w", id, ErrNotFound)
	}
	err := e.removeVnet(vs, true)
	delete(e.vnets, id)
	e.log.Info("vnet deleted", zap.Stringer("vnet", id), zap.String("device", vs.vn.device))
	return err
}

// removeVnet undoes createVnet, also after a partial failure. Without
// deleteDevices the veth pair stays, for the next vnetd to adopt. The
// caller holds e.mu.
func (e *Engine) removeVnet(vs *vnetState, deleteDevices bool) error {
	vn := vs.vn
	var errs []error
	if vn.key != nil {
		// Stop accepting the vnet's packets at once.
		e.sad.Remove(vn.key)
	}
	if err := e.closeVnetPorts(vs); err != nil {
		errs = append(errs, err)
	}
	// Deleting the dataplane end deletes the pair; the user end may have
	// been moved to another namespace.
	if l, err := netlink.LinkByName(vn.dpDevice); err == nil && deleteDevices && vs.created && (vs.dpIdx == 0 || l.Attrs().Index == vs.dpIdx) {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete devices %s and %s: %w", vn.dpDevice, vn.device, err))
		}
	}
	// The vnet's tables go with it; workers hold frames queued for its
	// destinations until their next tick drops them.
	e.indices.release(vn.index)
	if vn.key != nil {
		// No worker uses the vnet any more, so its keys can be zeroed.
		for _, row := range vn.senders {
			for _, s := range row {
				s.Close()
			}
		}
		vn.key.Close()
		vn.key = nil
		e.updateSteering()
	}
	return errors.Join(errs...)
}

// closeVnetPorts detaches the XDP program from a vnet's dataplane end,
// takes the vnet out of the data path and closes its sockets. The vnet's
// tables and keys stay. The caller holds e.mu.
func (e *Engine) closeVnetPorts(vs *vnetState) error {
	vn := vs.vn
	var errs []error
	if vs.attach != nil {
		if err := vs.attach.Close(); err != nil {
			errs = append(errs, err)
		}
		vs.attach = nil
	}
	if vs.dpIdx != 0 {
		if err := e.prog.DeletePort(vs.dpIdx); err != nil {
			errs = append(errs, err)
		}
	}
	if vs.hasSlot {
		for wi := range vs.sockets {
			_ = e.prog.DeleteSocket(vs.slot + uint32(wi))
		}
	}
	e.update(func(c *config) {
		if c.vnets[vn.id] == vn {
			c.vnets = cloneVnets(c.vnets)
			delete(c.vnets, vn.id)
		}
		c.bindings = cloneBindings(c.bindings)
		for wi, p := range vs.ports {
			setBinding(c, wi, p.ID(), binding{})
		}
	})
	// Removing a port waits for its worker to finish the batch in hand,
	// so once every port is gone no worker uses the old snapshot.
	for wi, p := range vs.ports {
		if err := e.workers[wi].w.RemovePort(p); err != nil {
			errs = append(errs, err)
		}
	}
	if vs.hasSlot {
		e.slots.free(vs.slot, vs.queues)
		vs.hasSlot = false
	}
	vs.ports, vs.sockets = nil, nil
	return errors.Join(errs...)
}

// addKey derives the keys of a secure vnet, makes a sender for each
// worker and underlay port, and registers the inbound SAs.
func (e *Engine) addKey(vn *vnet, psk []byte) error {
	key, err := esp.NewKey(vn.id, vn.mode, psk)
	if err != nil {
		return fmt.Errorf("vnet %s: %w: %w", vn.id, ErrInvalid, err)
	}
	vn.senders = make([][]*esp.Sender, len(e.workers))
	for wi := range e.workers {
		for _, us := range e.underlay {
			s, err := key.NewSender(us.port.addr)
			if err != nil {
				key.Close()
				return fmt.Errorf("vnet %s: create ESP sender: %w", vn.id, err)
			}
			vn.senders[wi] = append(vn.senders[wi], s)
		}
	}
	if err := e.sad.Add(key); err != nil {
		key.Close()
		return fmt.Errorf("vnet %s: %w", vn.id, err)
	}
	vn.key = key
	return nil
}

// updateSteering has the XDP program steer ESP to the dataplane while a
// secure vnet exists, and leave it to the kernel's IPsec otherwise. The
// caller holds e.mu.
func (e *Engine) updateSteering() {
	secure := false
	for _, vs := range e.vnets {
		if vs.vn.mode != 0 && vs.vn.key != nil {
			secure = true
		}
	}
	for _, us := range e.underlay {
		if us.gone {
			continue
		}
		if err := us.setPort(e, secure); err != nil {
			e.log.Error("update XDP steering", zap.String("interface", us.port.name), zap.Error(err))
		}
	}
}

// AddVif adds a local MAC address, for which this host replies to VARP
// requests. Entries added this way do not expire.
func (e *Engine) AddVif(id wire.VnetID, mac wire.MAC) error {
	if mac.IsMulticast() {
		return fmt.Errorf("vif %s: %w (use a unicast MAC address)", mac, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	vs, ok := e.vnets[id]
	if !ok {
		return fmt.Errorf("vnet %s: %w", id, ErrNotFound)
	}
	vn := vs.vn
	k := makeKey(vn.index, mac)
	if vn.vifs.set(k, makeValue([4]byte{}, 0, flagStatic), e.clock(timeNow())) == tableFull {
		return fmt.Errorf("vif %s on vnet %s: %w (the vif table is full of entries added by command)", mac, id, ErrInvalid)
	}
	vn.varp.remove(k)
	e.log.Info("vif added", zap.Stringer("vnet", id), zap.Stringer("mac", mac))
	// Tell the other hosts where the MAC is now.
	e.announce(vn, mac)
	return nil
}

// DeleteVif removes a local MAC address.
func (e *Engine) DeleteVif(id wire.VnetID, mac wire.MAC) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	vs, ok := e.vnets[id]
	if !ok {
		return fmt.Errorf("vnet %s: %w", id, ErrNotFound)
	}
	if !vs.vn.vifs.remove(makeKey(vs.vn.index, mac)) {
		return fmt.Errorf("vif %s on vnet %s: %w", mac, id, ErrNotFound)
	}
	e.log.Info("vif deleted", zap.Stringer("vnet", id), zap.Stringer("mac", mac))
	return nil
}

// AddPeer adds a unicast peer. Adding an existing peer updates its port,
// as the original accepted duplicates.
func (e *Engine) AddPeer(addr netip.Addr, port uint16) error {
	if !addr.Is4() || addr.IsMulticast() || addr.IsUnspecified() || addr.IsLoopback() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("peer %s: %w (use the unicast IPv4 address of another host's underlay interface)", addr, ErrInvalid)
	}
	if port == 0 {
		port = wire.Port
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a := addr.As4()
	if e.cfg.Load().isLocal(a) {
		return fmt.Errorf("peer %s: %w (that is an address of this host; use another host's address)", addr, ErrInvalid)
	}
	for _, p := range e.peers {
		if p.addr == a {
			p.port = port
			return nil
		}
	}
	p := &peer{addr: a, port: port}
	e.peers = append(e.peers, p)
	peers := append([]*peer(nil), e.peers...)
	e.update(func(c *config) { c.peers = peers })
	e.log.Info("peer added", zap.Stringer("addr", addr), zap.Uint16("port", port))
	return nil
}

// DeletePeer removes a peer.
func (e *Engine) DeletePeer(addr netip.Addr) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := addr.As4()
	for i, p := range e.peers {
		if p.addr == a {
			e.peers = append(e.peers[:i:i], e.peers[i+1:]...)
			peers := append([]*peer(nil), e.peers...)
			e.update(func(c *config) { c.peers = peers })
			e.log.Info("peer deleted", zap.Stringer("addr", addr))
			return nil
		}
	}
	return fmt.Errorf("peer %s: %w", addr, ErrNotFound)
}

// SetGroup changes the multicast group and rejoins it on every underlay
// interface.
func (e *Engine) SetGroup(addr netip.Addr) error {
	if err := wire.CheckGroup(addr); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	g := addr.As4()
	var errs []error
	for _, us := range e.underlay {
		if us.gone {
			// It joins the group when it is opened again.
			continue
		}
		if err := us.join(e, g); err != nil {
			errs = append(errs, err)
		}
	}
	e.update(func(c *config) {
		c.group = g
		c.groupMAC = wire.MulticastMAC(g)
	})
	e.log.Info("group changed", zap.Stringer("group", addr))
	return errors.Join(errs...)
}

// FlushVarp removes every VARP cache entry that is not probing.
func (e *Engine) FlushVarp() {
	n := 0
	for _, vn := range e.cfg.Load().vnets {
		n += vn.varp.removeIf(func(_ macKey, v entryValue, _ uint32) bool { return v.flags()&flagProbing == 0 })
	}
	e.log.Info("VARP cache flushed", zap.Int("entries", n))
}
