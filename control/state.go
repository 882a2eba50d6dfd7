package control

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vnet-xdp/vnet/overlay"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// stateHeader opens every state file.
const stateHeader = `# vnetd state: the commands that recreate the configuration, applied in
# order when vnetd starts. vnetd rewrites this file after every change, so
# edit it only while vnetd is stopped. It never contains key material.
`

// vnetRecord is a vnet that vnet.add created.
type vnetRecord struct {
	id       wire.VnetID
	device   string
	security overlay.Security
	// keyFile names the file in the key directory that contains the
	// vnet's key, or is "" for a vnet without a key.
	keyFile string
}

// vifKey is a vif that vif.add created.
type vifKey struct {
	vnet wire.VnetID
	mac  wire.MAC
}

// state is the configuration that commands created and that vnetd saves:
// the multicast group, peers, vnets and vifs. Learned MAC addresses and
// VARP entries are not part of it.
type state struct {
	// group is the zero Addr until a varp.mcaddr command succeeds, so that
	// the group of the daemon's command line applies until then.
	group netip.Addr
	// limits is nil until a varp.limits command succeeds, for the same
	// reason.
	limits *overlay.Limits
	peers  map[netip.Addr]uint16
	vnets  map[wire.VnetID]vnetRecord
	vifs   map[vifKey]struct{}
}

func newState() *state {
	return &state{
		peers: make(map[netip.Addr]uint16),
		vnets: make(map[wire.VnetID]vnetRecord),
		vifs:  make(map[vifKey]struct{}),
	}
}

// deleteVnet removes a vnet and its vifs, as vnet.del does in the
// dataplane.
func (s *state) deleteVnet(id wire.VnetID) {
	delete(s.vnets, id)
	for k := range s.vifs {
		if k.vnet == id {
			delete(s.vifs, k)
		}
	}
}

// commands returns the commands that recreate s, in the order they must
// run: the group, the peers by address, each vnet by id, then the vifs by
// vnet and MAC.
func (s *state) commands() []Expr {
	var cmds []Expr
	if s.group.IsValid() {
		cmds = append(cmds, List(Atom("varp.mcaddr"), field("addr", s.group.String())))
	}
	if l := s.limits; l != nil {
		cmds = append(cmds, List(Atom("varp.limits"),
			field("entries", strconv.Itoa(l.MaxVarpEntries)), field("vifs", strconv.Itoa(l.MaxVifs)),
			field("learn_rate", strconv.Itoa(l.LearnRate)), field("flood_rate", strconv.Itoa(l.FloodRate))))
	}

	peers := make([]netip.Addr, 0, len(s.peers))
	for addr := range s.peers {
		peers = append(peers, addr)
	}
	slices.SortFunc(peers, netip.Addr.Compare)
	for _, addr := range peers {
		port := strconv.Itoa(int(s.peers[addr]))
		cmds = append(cmds, List(Atom("peer.add"), field("addr", addr.String()), field("port", port)))
	}

	vnets := make([]vnetRecord, 0, len(s.vnets))
	for _, v := range s.vnets {
		vnets = append(vnets, v)
	}
	slices.SortFunc(vnets, func(a, b vnetRecord) int { return bytes.Compare(a.id[:], b.id[:]) })
	for _, v := range vnets {
		elems := []Expr{
			Atom("vnet.add"),
			field("id", v.id.String()),
			field("vnetif", v.device),
			field("security", v.security.String()),
		}
		if v.keyFile != "" {
			elems = append(elems, field("key-file", v.keyFile))
		}
		cmds = append(cmds, List(elems...))
	}

	vifs := make([]vifKey, 0, len(s.vifs))
	for k := range s.vifs {
		vifs = append(vifs, k)
	}
	slices.SortFunc(vifs, func(a, b vifKey) int {
		if c := bytes.Compare(a.vnet[:], b.vnet[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.mac[:], b.mac[:])
	})
	for _, k := range vifs {
		cmds = append(cmds, List(Atom("vif.add"), field("vnet", k.vnet.String()), field("vmac", k.mac.String())))
	}
	return cmds
}

// encode returns the text of the state file: a comment, then one command
// per line.
func (s *state) encode() []byte {
	out := []byte(stateHeader)
	for _, cmd := range s.commands() {
		out = AppendExpr(out, cmd)
		out = append(out, '\n')
	}
	return out
}

// field builds the list (name value).
func field(name, value string) Expr {
	return List(Atom(name), Atom(value))
}
