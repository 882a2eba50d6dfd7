package main

import (
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/control"
)

// All functions here act on the network namespace of the calling thread.

// deviceInfo describes a network device and the bridge it is attached to.
type deviceInfo struct {
	name    string
	present bool
	// up is the administrative state; operState is the kernel's operational
	// state.
	up        bool
	operState string
	mtu       int
	mac       string
	bridge    string
	// ports are the devices attached to bridge, this one included.
	ports []string
}

func isNotFound(err error) bool {
	var notFound netlink.LinkNotFoundError
	return errors.As(err, &notFound)
}

// lookupDevice returns the state of device name. A missing device is not
// an error: present is false.
func lookupDevice(name string) (deviceInfo, error) {
	info := deviceInfo{name: name}
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("look up device %s: %w", name, err)
	}
	attrs := link.Attrs()
	info.present = true
	info.up = attrs.Flags&net.FlagUp != 0
	info.operState = attrs.OperState.String()
	info.mtu = attrs.MTU
	info.mac = attrs.HardwareAddr.String()
	if attrs.MasterIndex == 0 {
		return info, nil
	}

	master, err := netlink.LinkByIndex(attrs.MasterIndex)
	if err != nil {
		return info, fmt.Errorf("look up bridge of device %s: %w", name, err)
	}
	if master.Type() != "bridge" {
		return info, nil
	}
	info.bridge = master.Attrs().Name
	info.ports, err = bridgePorts(master)
	return info, err
}

// bridgePorts returns the names of the devices attached to bridge, sorted.
func bridgePorts(bridge netlink.Link) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var ports []string
	for _, l := range links {
		if l.Attrs().MasterIndex == bridge.Attrs().Index {
			ports = append(ports, l.Attrs().Name)
		}
	}
	slices.Sort(ports)
	return ports, nil
}

func (d deviceInfo) adminState() string {
	switch {
	case !d.present:
		return "absent"
	case d.up:
		return "up"
	}
	return "down"
}

// expr formats d as (vnif (name N) (state S) ...).
func (d deviceInfo) expr(head string) control.Expr {
	elems := []control.Expr{control.Atom(head), field("name", d.name), field("state", d.adminState())}
	if d.present {
		elems = append(elems,
			field("oper_state", d.operState),
			field("mtu", fmt.Sprint(d.mtu)),
			field("mac", d.mac))
	}
	if d.bridge != "" {
		elems = append(elems, field("bridge", d.bridge))
	}
	if len(d.ports) > 0 {
		ports := []control.Expr{control.Atom("bridge_ports")}
		for _, p := range d.ports {
			ports = append(ports, control.Atom(p))
		}
		elems = append(elems, control.List(ports...))
	}
	return control.List(elems...)
}

// object formats d for JSON output, with the same field names as expr.
func (d deviceInfo) object() object {
	o := object{{"name", d.name}, {"state", d.adminState()}}
	if d.present {
		o = append(o, member{"oper_state", d.operState}, member{"mtu", d.mtu}, member{"mac", d.mac})
	}
	if d.bridge != "" {
		o = append(o, member{"bridge", d.bridge}, member{"bridge_ports", d.ports})
	}
	return o
}

// listBridges returns every bridge in the namespace, sorted by name, with
// its ports.
func listBridges() ([]deviceInfo, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var bridges []deviceInfo
	for _, l := range links {
		if l.Type() != "bridge" {
			continue
		}
		attrs := l.Attrs()
		b := deviceInfo{
			name:      attrs.Name,
			present:   true,
			up:        attrs.Flags&net.FlagUp != 0,
			operState: attrs.OperState.String(),
			mtu:       attrs.MTU,
			mac:       attrs.HardwareAddr.String(),
		}
		for _, port := range links {
			if port.Attrs().MasterIndex == attrs.Index {
				b.ports = append(b.ports, port.Attrs().Name)
			}
		}
		slices.Sort(b.ports)
		bridges = append(bridges, b)
	}
	slices.SortFunc(bridges, func(a, b deviceInfo) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return bridges, nil
}

// ensureBridge returns bridge name, creating it with STP off and forward
// delay 0 and setting it up when it does not exist.
func ensureBridge(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	switch {
	case err == nil:
		if link.Type() != "bridge" {
			return nil, fmt.Errorf("use %s as a bridge: it is a %s device (choose another bridge name)", name, link.Type())
		}
		return link, nil
	case !isNotFound(err):
		return nil, fmt.Errorf("look up bridge %s: %w", name, err)
	}

	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", name, err)
	}
	link, err = netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up new bridge %s: %w", name, err)
	}
	if err := setBridgeNoSTP(link.Attrs().Index); err != nil {
		return nil, fmt.Errorf("configure bridge %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return link, nil
}

// setBridgeNoSTP turns STP off and sets the forward delay to 0, so that
// ports forward as soon as they are attached. The netlink package has no
// fields for these bridge attributes, so this sends RTM_NEWLINK itself.
func setBridgeNoSTP(index int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)

	linkInfo := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	linkInfo.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := linkInfo.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	// STP state first: the kernel accepts a forward delay below 2 s only
	// while STP is off.
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	req.AddData(linkInfo)

	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// errDeviceElsewhere is returned by attachToBridge when the device is
// not in vn's network namespace.
var errDeviceElsewhere = errors.New("is not in this network namespace")

// attachToBridge attaches device to bridge, creating the bridge if needed,
// and sets the device up.
func attachToBridge(device, bridge string) error {
	// The device is looked up first, so that vn run in another network
	// namespace than vnetd's creates no bridge there.
	link, err := netlink.LinkByName(device)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return fmt.Errorf("device %s %w (run vn in vnetd's namespace, for example with ip netns exec)", device, errDeviceElsewhere)
		}
		return fmt.Errorf("look up device %s: %w", device, err)
	}
	br, err := ensureBridge(bridge)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("attach device %s to bridge %s: %w", device, bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set device %s up: %w", device, err)
	}
	return nil
}

// detachResult reports what detachFromBridge did.
type detachResult struct {
	// bridge is the bridge the device was attached to, or "".
	bridge string
	// remaining are the bridge's other ports, which kept it from being
	// deleted.
	remaining     []string
	bridgeDeleted bool
	devicePresent bool
}

// detachFromBridge detaches device from its bridge, if it has one. With
// deleteBridge it then deletes the bridge, unless other ports remain.
func detachFromBridge(device string, deleteBridge bool) (detachResult, error) {
	var res detachResult
	info, err := lookupDevice(device)
	if err != nil || !info.present {
		return res, err
	}
	res.devicePresent = true
	if info.bridge == "" {
		return res, nil
	}
	res.bridge = info.bridge

	link, err := netlink.LinkByName(device)
	if err != nil {
		return res, fmt.Errorf("look up device %s: %w", device, err)
	}
	if err := netlink.LinkSetNoMaster(link); err != nil {
		return res, fmt.Errorf("detach device %s from bridge %s: %w", device, info.bridge, err)
	}
	if !deleteBridge {
		return res, nil
	}

	res.remaining = slices.DeleteFunc(info.ports, func(p string) bool { return p == device })
	if len(res.remaining) > 0 {
		return res, nil
	}
	br, err := netlink.LinkByName(info.bridge)
	if err != nil {
		return res, fmt.Errorf("look up bridge %s: %w", info.bridge, err)
	}
	if err := netlink.LinkSetDown(br); err != nil {
		return res, fmt.Errorf("set bridge %s down: %w", info.bridge, err)
	}
	if err := netlink.LinkDel(br); err != nil {
		return res, fmt.Errorf("delete bridge %s: %w", info.bridge, err)
	}
	res.bridgeDeleted = true
	return res, nil
}

// interfaceMAC returns the MAC address of device name.
func interfaceMAC(name string) (string, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return "", fmt.Errorf("look up interface %s: %w", name, err)
	}
	mac := link.Attrs().HardwareAddr
	if len(mac) != 6 {
		return "", fmt.Errorf("interface %s has no Ethernet MAC address (give the MAC itself)", name)
	}
	return mac.String(), nil
}
