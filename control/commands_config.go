package control

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// DefaultPeerPort is the port peer.add stores when none is given: the vnet
// UDP port 1798 (if_varp.h in the original vnet sources).
const DefaultPeerPort = 1798

// MaxDeviceName is the longest device name vnet.add accepts. Linux allows
// 15 bytes (IFNAMSIZ 16 with the NUL), and the daemon derives a second
// device name by appending '+'.
const MaxDeviceName = 14

func (ev *evaluator) vnetAdd(a args, out []byte) ([]byte, *Error) {
	id, idText, err := a.vnetID("id")
	if err != nil {
		return out, err
	}
	if uerr := id.CheckUsable(); uerr != nil {
		return out, invalidf(idText, "%s: %v", a.command, uerr)
	}
	cfg := overlay.VnetConfig{ID: id}

	if name, ok := a.optional("vnetif"); ok {
		if nerr := checkDeviceName(name); nerr != nil {
			return out, invalidf(name, "%s: %v", a.command, nerr)
		}
		cfg.Device = name
	}
	if level, ok := a.optional("security"); ok {
		sec, serr := overlay.ParseSecurity(level)
		if serr != nil {
			return out, invalidf(level, "%s: %v", a.command, serr)
		}
		cfg.Security = sec
	}
	key, keyFile, err := a.vnetKey(cfg.Security)
	if err != nil {
		return out, err
	}
	defer func() { clear(key) }()
	if cfg.Security != overlay.SecurityNone {
		key, keyFile, err = ev.secureKey(a.command, id, key, keyFile)
		if err != nil {
			return out, err
		}
		cfg.Key = key
	}

	if derr := ev.dp.AddVnet(cfg); derr != nil {
		if errors.Is(derr, overlay.ErrExists) {
			if e := ev.vnetDiffers(a.command, cfg, idText, derr); e != nil {
				return out, e
			}
		}
		return out, dataplaneError(derr, "add vnet "+id.String(), "vnet "+id.String(), idText)
	}
	rec := vnetRecord{id: id, device: ev.deviceOf(id, cfg.Device), security: cfg.Security, keyFile: keyFile}
	return out, ev.commit("vnet "+id.String()+" added", func(s *state) { s.vnets[id] = rec })
}

// errVnetDiffers marks a vnet.add of an existing vnet whose settings
// differ from those requested, so that a startup file reports it.
var errVnetDiffers = errors.New("the existing vnet has other settings")

// vnetDiffers returns the error for a vnet.add of an existing vnet whose
// security or device differs from cfg, or nil when they are the same.
func (ev *evaluator) vnetDiffers(command string, cfg overlay.VnetConfig, idText string, err error) *Error {
	for _, v := range ev.dp.Vnets() {
		if v.ID != cfg.ID {
			continue
		}
		if v.Security == cfg.Security && (cfg.Device == "" || cfg.Device == v.Device) {
			return nil
		}
		return &Error{
			Code: CodeExists,
			Message: fmt.Sprintf("%s: vnet %s already exists with security %s and device %s, not the security %s and device %s requested (delete it first to add it with other settings)",
				command, cfg.ID, v.Security, v.Device, cfg.Security, cmp.Or(cfg.Device, cfg.ID.DefaultDevice())),
			Value: idText,
			Err:   fmt.Errorf("%w: %w", errVnetDiffers, err),
		}
	}
	return nil
}

// vnetKey parses the optional (key HEX) and (key-file NAME) fields of
// vnet.add, at most one of which may be given, and only for a vnet with
// security auth or conf.
func (a args) vnetKey(sec overlay.Security) ([]byte, string, *Error) {
	text, hasKey := a.optional("key")
	name, hasFile := a.optional("key-file")
	if !hasKey && !hasFile {
		return nil, "", nil
	}
	if hasKey && hasFile {
		return nil, "", invalidf("", "%s: give either key or key-file, not both", a.command)
	}
	if sec == overlay.SecurityNone {
		return nil, "", invalidf("", "%s: a key needs (security auth) or (security conf) (vn vnet-create -s auth or -s conf)", a.command)
	}
	if hasFile {
		if err := checkKeyFileName(name); err != nil {
			return nil, "", invalidf(name, "%s: %v", a.command, err)
		}
		return nil, name, nil
	}
	key, err := parseKey(text)
	if err != nil {
		// The value is not echoed: it may be most of a secret.
		return nil, "", invalidf("", "%s: %v", a.command, err)
	}
	return key, "", nil
}

// secureKey returns the key of a secure vnet and the key file the state
// refers to. An inline key is saved to the key directory, so that the
// state never contains key material. Without a key directory the key is
// used but not saved, so the vnet is not restored after a restart. With
// neither key nor key-file, the key directory's file for the vnet is
// used.
func (ev *evaluator) secureKey(command string, id wire.VnetID, key []byte, keyFile string) ([]byte, string, *Error) {
	switch {
	case key != nil && ev.keys != nil:
		name, err := ev.keys.save(id, key)
		if err != nil {
			return nil, "", &Error{Code: CodeIO, Message: fmt.Sprintf("%s: %v", command, err), Err: err}
		}
		return key, name, nil
	case key != nil:
		return key, "", nil
	case ev.keys == nil:
		return nil, "", invalidf("", "%s: a vnet with security auth or conf needs a key (give (key HEX) with 32 or 64 hex digits; vnetd has no key directory for key-file)", command)
	}
	if keyFile == "" {
		keyFile = keyFileName(id)
	}
	loaded, err := ev.keys.load(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", invalidf(keyFile, "%s: a vnet with security auth or conf needs a key: %v (give (key HEX), or put the key in hex in %s)", command, err, filepath.Join(ev.keys.dir, keyFile))
	}
	if err != nil {
		return nil, "", invalidf(keyFile, "%s: %v", command, err)
	}
	return loaded, keyFile, nil
}

// deviceOf returns the device name of vnet id as the dataplane lists it,
// or the name vnet.add asked for when the dataplane does not list it.
func (ev *evaluator) deviceOf(id wire.VnetID, requested string) string {
	for _, v := range ev.dp.Vnets() {
		if v.ID == id && v.Device != "" {
			return v.Device
		}
	}
	if requested == "" {
		return id.DefaultDevice()
	}
	return requested
}

func (ev *evaluator) vnetDel(a args, out []byte) ([]byte, *Error) {
	id, idText, err := a.vnetID("id")
	if err != nil {
		return out, err
	}
	if derr := ev.dp.DeleteVnet(id); derr != nil {
		ev.forgetVanishedVnet(id)
		return out, dataplaneError(derr, "delete vnet "+id.String(), "vnet "+id.String(), idText)
	}
	return out, ev.commit("vnet "+id.String()+" deleted", func(s *state) { s.deleteVnet(id) })
}

// forgetVanishedVnet removes vnet id from the state when a failed
// vnet.del removed it from the dataplane anyway, as a deletion that fails
// half-way does. Otherwise the vnet would come back at the next start,
// and a second vnet.del could not remove it because it is not found.
func (ev *evaluator) forgetVanishedVnet(id wire.VnetID) {
	if ev.persist == nil {
		return
	}
	if _, ok := ev.persist.state.vnets[id]; !ok {
		return
	}
	for _, v := range ev.dp.Vnets() {
		if v.ID == id {
			return
		}
	}
	ev.commit("vnet "+id.String()+" deleted", func(s *state) { s.deleteVnet(id) })
}

func (ev *evaluator) vifAdd(a args, out []byte) ([]byte, *Error) {
	id, idText, mac, macText, err := a.vif()
	if err != nil {
		return out, err
	}
	if mac.IsMulticast() || mac.IsZero() {
		return out, invalidf(macText, "%s: MAC address %s is not a unicast address (use the MAC of a local interface)", a.command, mac)
	}
	if derr := ev.dp.AddVif(id, mac); derr != nil {
		return out, ev.vifError(derr, "add", id, idText, mac, macText)
	}
	k := vifKey{vnet: id, mac: mac}
	return out, ev.commit(fmt.Sprintf("vif %s added to vnet %s", mac, id), func(s *state) { s.vifs[k] = struct{}{} })
}

func (ev *evaluator) vifDel(a args, out []byte) ([]byte, *Error) {
	id, idText, mac, macText, err := a.vif()
	if err != nil {
		return out, err
	}
	if derr := ev.dp.DeleteVif(id, mac); derr != nil {
		return out, ev.vifError(derr, "delete", id, idText, mac, macText)
	}
	k := vifKey{vnet: id, mac: mac}
	return out, ev.commit(fmt.Sprintf("vif %s deleted from vnet %s", mac, id), func(s *state) { delete(s.vifs, k) })
}

// vif parses the (vnet ID) and (vmac MAC) fields of vif.add and vif.del.
func (a args) vif() (wire.VnetID, string, wire.MAC, string, *Error) {
	id, idText, err := a.vnetID("vnet")
	if err != nil {
		return id, idText, wire.MAC{}, "", err
	}
	macText, err := a.required("vmac")
	if err != nil {
		return id, idText, wire.MAC{}, "", err
	}
	mac, perr := wire.ParseMAC(macText)
	if perr != nil {
		return id, idText, mac, macText, invalidf(macText, "%s: %v", a.command, perr)
	}
	return id, idText, mac, macText, nil
}

// vifError classifies a failed vif command; verb is "add" or "delete". The
// rejected value is the vnet id when the vnet does not exist, else the MAC.
func (ev *evaluator) vifError(err error, verb string, id wire.VnetID, idText string, mac wire.MAC, macText string) *Error {
	op := fmt.Sprintf("%s vif %s in vnet %s", verb, mac, id)
	for _, v := range ev.dp.Vnets() {
		if v.ID == id {
			return dataplaneError(err, op, fmt.Sprintf("vif %s in vnet %s", mac, id), macText)
		}
	}
	return dataplaneError(err, op, "vnet "+id.String(), idText)
}

func (ev *evaluator) peerAdd(a args, out []byte) ([]byte, *Error) {
	addr, addrText, err := a.peerAddr()
	if err != nil {
		return out, err
	}
	port := uint16(DefaultPeerPort)
	if text, ok := a.optional("port"); ok {
		p, perr := parsePort(text)
		if perr != nil {
			return out, invalidf(text, "%s: %v", a.command, perr)
		}
		port = p
	}
	if derr := ev.dp.AddPeer(addr, port); derr != nil {
		return out, dataplaneError(derr, "add peer "+addr.String(), "peer "+addr.String(), addrText)
	}
	return out, ev.commit("peer "+addr.String()+" added", func(s *state) { s.peers[addr] = port })
}

func (ev *evaluator) peerDel(a args, out []byte) ([]byte, *Error) {
	addr, addrText, err := a.peerAddr()
	if err != nil {
		return out, err
	}
	if derr := ev.dp.DeletePeer(addr); derr != nil {
		return out, dataplaneError(derr, "delete peer "+addr.String(), "peer "+addr.String(), addrText)
	}
	return out, ev.commit("peer "+addr.String()+" deleted", func(s *state) { delete(s.peers, addr) })
}

// peerAddr parses the (addr A.B.C.D) field of the peer commands, which
// must be a unicast address.
func (a args) peerAddr() (netip.Addr, string, *Error) {
	text, err := a.required("addr")
	if err != nil {
		return netip.Addr{}, "", err
	}
	addr, perr := parseIPv4(text)
	if perr != nil {
		return addr, text, invalidf(text, "%s: %v", a.command, perr)
	}
	if addr.IsMulticast() || addr.IsUnspecified() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return addr, text, invalidf(text, "%s: address %s is not a unicast address (use the peer host's own IPv4 address)", a.command, addr)
	}
	return addr, text, nil
}

func (ev *evaluator) varpMcaddr(a args, out []byte) ([]byte, *Error) {
	text, err := a.required("addr")
	if err != nil {
		return out, err
	}
	addr, perr := parseIPv4(text)
	if perr != nil {
		return out, invalidf(text, "%s: %v", a.command, perr)
	}
	if gerr := wire.CheckGroup(addr); gerr != nil {
		return out, invalidf(text, "%s: %v", a.command, gerr)
	}
	if derr := ev.dp.SetGroup(addr); derr != nil {
		// NOTE: the dataplane may have switched to the group although
		// joining it failed on an interface. The state keeps the old group
		// until a varp.mcaddr succeeds.
		return out, dataplaneError(derr, "set multicast group "+addr.String(), "multicast group "+addr.String(), text)
	}
	return out, ev.commit("multicast group set to "+addr.String(), func(s *state) { s.group = addr })
}

// varpLimits changes the per-vnet limits given and keeps the others.
func (ev *evaluator) varpLimits(a args, out []byte) ([]byte, *Error) {
	l := ev.dp.Varp().Limits
	for _, f := range []struct {
		name string
		dst  *int
		min  int
	}{
		{"entries", &l.MaxVarpEntries, 1}, {"vifs", &l.MaxVifs, 1},
		{"learn_rate", &l.LearnRate, 0}, {"flood_rate", &l.FloodRate, 0},
	} {
		text, ok := a.optional(f.name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(text)
		if err != nil || n < f.min {
			return out, invalidf(text, "%s: invalid %s %q (use a decimal number of at least %d)", a.command, f.name, text, f.min)
		}
		*f.dst = n
	}
	if derr := ev.dp.SetLimits(l); derr != nil {
		return out, dataplaneError(derr, "set limits", "limits", "")
	}
	return out, ev.commit("limits changed", func(s *state) { s.limits = &l })
}

func (ev *evaluator) varpFlush(_ args, out []byte) ([]byte, *Error) {
	ev.dp.FlushVarp()
	return out, nil
}

// parseIPv4 accepts only a dotted quad of four decimal numbers from 0 to
// 255 without leading zeros. The original also took shorthand such as
// "10.1" and hex components, which this rejects.
func parseIPv4(text string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(text)
	if err != nil || !addr.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address %q (use four decimal numbers from 0 to 255 separated by dots, such as 198.18.0.1)", text)
	}
	return addr, nil
}

// parsePort accepts a decimal number from 1 to 65535.
func parsePort(text string) (uint16, error) {
	bad := len(text) == 0 || len(text) > 5
	for i := 0; i < len(text) && !bad; i++ {
		bad = text[i] < '0' || text[i] > '9'
	}
	if !bad {
		n, _ := strconv.Atoi(text)
		if n >= 1 && n <= 65535 {
			return uint16(n), nil
		}
	}
	return 0, fmt.Errorf("invalid port %q (use a decimal number from 1 to 65535)", text)
}

// checkDeviceName accepts 1 to MaxDeviceName characters from
// [A-Za-z0-9_.-], other than "." and "..", which Linux reserves.
func checkDeviceName(name string) error {
	if len(name) < 1 || len(name) > MaxDeviceName {
		return fmt.Errorf("invalid device name %q: it has %d characters (use 1 to %d)", name, len(name), MaxDeviceName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("invalid device name %q: character %s is not allowed (use letters, digits, '_', '.' and '-')", name, printable(c))
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("invalid device name %q (Linux reserves . and ..)", name)
	}
	return nil
}
