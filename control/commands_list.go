package control

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vnet-xdp/vnet/overlay"
)

// The list commands print the shapes of the original vnetd (vnet.c, vif.c,
// varp.c and vnet_forward.c in the Xen 4.1 tools/vnet tree), with three
// fixes: ids in their full form, rx_packets printing the receive counter,
// and entries sorted so that the output is stable. Ages and TTLs are in
// milliseconds, the unit of the original vnetd.

// vifTableTTL is the vif table's sweep interval and entry lifetime that
// vif.list prints. Both are 60 s in the original (vif.c).
const vifTableTTL = 60 * time.Second

func (ev *evaluator) vnetList(_ args, out []byte) ([]byte, *Error) {
	return appendVnetList(out, ev.dp.Vnets()), nil
}

func (ev *evaluator) vifList(_ args, out []byte) ([]byte, *Error) {
	return appendVifList(out, ev.dp.Vifs()), nil
}

func (ev *evaluator) varpList(_ args, out []byte) ([]byte, *Error) {
	return appendVarpList(out, ev.dp.Varp()), nil
}

// vnetKeys prints one (esp_sa "LINE") per SA of a secure vnet, each
// line a record of Wireshark's esp_sa file.
func (ev *evaluator) vnetKeys(a args, out []byte) ([]byte, *Error) {
	id, idText, err := a.vnetID("id")
	if err != nil {
		return out, err
	}
	lines, derr := ev.dp.ESPKeys(id)
	if derr != nil {
		return out, dataplaneError(derr, "list keys of vnet "+id.String(), "vnet "+id.String(), idText)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		if line == "" {
			continue
		}
		out = AppendExpr(out, List(Atom("esp_sa"), Atom(line)))
		out = append(out, '\n')
	}
	return out, nil
}

func (ev *evaluator) peerList(_ args, out []byte) ([]byte, *Error) {
	return appendPeerList(out, ev.dp.Peers()), nil
}

func (ev *evaluator) statsList(_ args, out []byte) ([]byte, *Error) {
	return appendStatsList(out, ev.dp.Stats()), nil
}

// appendVnetList prints one line per vnet, sorted by id:
//
//	(vnet (id ID) (vnetif NAME) (security LEVEL) (header N))
func appendVnetList(out []byte, vnets []overlay.VnetInfo) []byte {
	vnets = slices.Clone(vnets)
	slices.SortFunc(vnets, func(a, b overlay.VnetInfo) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	for _, v := range vnets {
		out = append(out, "(vnet (id "...)
		out = append(out, v.ID.String()...)
		out = append(out, ") (vnetif "...)
		out = appendValue(out, v.Device)
		out = append(out, ") (security "...)
		out = appendValue(out, v.Security.String())
		out = append(out, ") (header "...)
		out = strconv.AppendInt(out, int64(v.Header), 10)
		out = append(out, "))\n"...)
	}
	return out
}

// appendVifList prints the (viftable ...) block, then one (vif ...) block
// per vif sorted by vnet and MAC.
func appendVifList(out []byte, vifs []overlay.VifInfo) []byte {
	out = append(out, "(viftable\n"...)
	out = appendIntField(out, " ", "table_ttl", vifTableTTL.Milliseconds())
	out = appendIntField(out, " ", "entry_ttl", vifTableTTL.Milliseconds())
	// NOTE: the dataplane does not report its sweep count, so this is
	// always 0.
	out = appendIntField(out, " ", "sweeps", 0)
	out = append(out, ")\n"...)

	vifs = slices.Clone(vifs)
	slices.SortFunc(vifs, func(a, b overlay.VifInfo) int {
		if c := bytes.Compare(a.Vnet[:], b.Vnet[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.MAC[:], b.MAC[:])
	})
	for _, v := range vifs {
		out = append(out, "(vif\n"...)
		out = appendField(out, " ", "vnet", v.Vnet.String())
		out = appendField(out, " ", "vmac", v.MAC.String())
		out = appendIntField(out, " ", "age", millis(v.Age))
		out = append(out, ")\n"...)
	}
	return out
}

// appendVarpList prints the (varp ...) block, then one (ventry ...) block
// per cache entry sorted by vnet and MAC. Both heads are followed by a
// space, as in the original.
func appendVarpList(out []byte, info overlay.VarpInfo) []byte {
	out = append(out, "(varp \n"...)
	out = appendField(out, " ", "device", info.Device)
	out = appendField(out, " ", "mcast_addr", addrText(info.Group))
	out = appendField(out, " ", "ucast_addr", addrText(info.Unicast))
	out = appendIntField(out, " ", "port", int64(info.Port))
	out = appendField(out, " ", "encapsulation", info.Encapsulation)
	out = appendIntField(out, " ", "entry_ttl", millis(info.EntryTTL))
	out = append(out, ")\n"...)

	// The original had no limits and always flooded unknown unicast, so
	// these follow its (varp ...) block, which keeps its shape.
	unknown := "flood"
	if info.Resolve {
		unknown = "resolve"
	}
	out = append(out, "(varp_limits\n"...)
	out = appendField(out, " ", "unknown_unicast", unknown)
	out = appendIntField(out, " ", "max_entries", int64(info.Limits.MaxVarpEntries))
	out = appendIntField(out, " ", "max_vifs", int64(info.Limits.MaxVifs))
	out = appendIntField(out, " ", "learn_rate", int64(info.Limits.LearnRate))
	out = appendIntField(out, " ", "flood_rate", int64(info.Limits.FloodRate))
	out = append(out, ")\n"...)

	entries := slices.Clone(info.Entries)
	slices.SortFunc(entries, func(a, b overlay.VarpEntry) int {
		if c := bytes.Compare(a.Vnet[:], b.Vnet[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.MAC[:], b.MAC[:])
	})
	for _, e := range entries {
		flags := "-"
		if e.Probing {
			flags = "P"
		}
		out = append(out, "(ventry \n"...)
		out = appendIntField(out, " ", "ref", int64(e.Ref))
		out = appendField(out, " ", "state", e.State.String())
		out = appendField(out, " ", "flags", flags)
		out = appendField(out, " ", "addr", addrText(e.Addr))
		out = appendIntField(out, " ", "queue", int64(e.Queue))
		out = appendIntField(out, " ", "age", millis(e.Age))
		out = appendField(out, " ", "vmac", e.MAC.String())
		out = appendField(out, " ", "vnet", e.Vnet.String())
		out = append(out, ")\n"...)
	}
	return out
}

// appendPeerList prints one (vnet_peer ...) block per peer, sorted by
// address, with the original's two-space indent.
func appendPeerList(out []byte, peers []overlay.PeerInfo) []byte {
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b overlay.PeerInfo) int { return a.Addr.Compare(b.Addr) })
	for _, p := range peers {
		out = append(out, "(vnet_peer\n"...)
		out = appendField(out, "  ", "addr", addrText(p.Addr))
		out = appendIntField(out, "  ", "port", int64(p.Port))
		out = appendUintField(out, "  ", "tx_packets", p.TxPackets)
		out = appendUintField(out, "  ", "rx_packets", p.RxPackets)
		out = append(out, ")\n"...)
	}
	return out
}

// appendStatsList prints one (stats ...) block per counter set, in the
// dataplane's order: the scope, then each counter by name.
func appendStatsList(out []byte, sets []overlay.CounterSet) []byte {
	for _, set := range sets {
		out = append(out, "(stats\n"...)
		out = appendField(out, " ", "scope", set.Scope)
		for _, c := range set.Counters {
			out = appendUintField(out, " ", c.Name, c.Value)
		}
		out = append(out, ")\n"...)
	}
	return out
}

// appendField appends the line INDENT(NAME VALUE) and a newline.
func appendField(out []byte, indent, name, value string) []byte {
	out = append(out, indent...)
	out = append(out, '(')
	out = appendValue(out, name)
	out = append(out, ' ')
	out = appendValue(out, value)
	return append(out, ")\n"...)
}

func appendIntField(out []byte, indent, name string, value int64) []byte {
	return appendField(out, indent, name, strconv.FormatInt(value, 10))
}

func appendUintField(out []byte, indent, name string, value uint64) []byte {
	return appendField(out, indent, name, strconv.FormatUint(value, 10))
}

// appendValue appends s as an atom, except that an empty value prints as
// nothing, as the original prints the physical vnet's "(vnetif )".
func appendValue(out []byte, s string) []byte {
	if s == "" {
		return out
	}
	return AppendAtom(out, s)
}

// addrText formats an address, printing the zero netip.Addr as 0.0.0.0 as
// the original does for an unset address.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}

// millis converts d to whole milliseconds, printing negative durations as
// 0.
func millis(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return d.Milliseconds()
}
