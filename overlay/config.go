package overlay

import (
	"net/netip"
	"sync/atomic"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// config is an immutable snapshot of everything the data path reads.
// The control goroutine builds a new one for every change and swaps it
// in whole; workers load it once per batch.
type config struct {
	group    [4]byte
	groupMAC wire.MAC
	groupTTL uint8

	underlay []*underlayPort
	// local lists the addresses of the underlay ports.
	local    [][4]byte
	vnets    map[wire.VnetID]*vnet
	nextHops map[[4]byte]nextHop
	peers    []*peer
	// bindings maps each worker's ports to what they carry.
	bindings [][]binding
	// learnInterval and floodInterval are the per-worker nanoseconds per
	// event of the learning and flooding rate limits, 0 for none.
	learnInterval, floodInterval int64
	// resolve selects queueing unknown unicast frames while VARP
	// resolves the destination, instead of flooding them.
	resolve bool
	// captures are the running captures; the data path checks only the
	// length when there are none.
	captures []*Capture
}

// underlayIndex returns the index of up in c.underlay.
func (c *config) underlayIndex(up *underlayPort) int {
	for i, u := range c.underlay {
		if u == up {
			return i
		}
	}
	return -1
}

// underlayPort is one underlay interface.
type underlayPort struct {
	// index is the port's position in config.underlay.
	index   int
	name    string
	ifindex int
	mac     wire.MAC
	addr    [4]byte
	// prefix is the subnet of addr: hosts in it are reached directly.
	prefix netip.Prefix
	mtu    int
	// ports holds the pmd port of each worker on this interface, or -1
	// where the worker has no queue on it.
	ports []pmd.PortID
}

// vnet is one configured vnet, as the data path reads it.
type vnet struct {
	id       wire.VnetID
	index    uint16
	device   string
	dpDevice string
	security Security
	mtu      int
	// maxFrame is the largest inner frame: the MTU plus an Ethernet
	// header and one VLAN tag.
	maxFrame int
	ports    []pmd.PortID
	stats    []vnetStats
	// varp maps remote MACs to the hosts behind them, vifs lists local
	// MACs. Each vnet has its own, so that a flood of MACs on one vnet
	// cannot evict or slow down another's entries.
	varp *macTable
	vifs *macTable
	// limiters are the per-worker rate limiters, used only by their
	// worker.
	limiters []vnetLimiters
	// mode is the ESP mode of a secure vnet, 0 for security none.
	// senders[worker][underlay port] seals what that worker sends from
	// that port's address; each is used by its worker only.
	mode    esp.Mode
	key     *esp.Key
	senders [][]*esp.Sender
}

// vnetLimiters are one worker's rate limiters of one vnet.
type vnetLimiters struct {
	learn, flood limiter
}

// limiter is a rate limiter in the form of the generic cell rate
// algorithm: tat is the theoretical arrival time of the next event, in
// nanoseconds of the engine clock.
type limiter struct {
	tat int64
}

// allow reports whether an event at now conforms to one event per
// interval with up to burst nanoseconds of credit, and records it if so.
// An interval of 0 allows everything.
func (l *limiter) allow(now, interval, burst int64) bool {
	if interval == 0 {
		return true
	}
	tat := l.tat
	if tat < now {
		tat = now
	}
	if tat-now > burst {
		return false
	}
	l.tat = tat + interval
	return true
}

// nextHop is the underlay port and Ethernet address through which a
// unicast underlay destination is reached.
type nextHop struct {
	port int
	mac  wire.MAC
}

// peer is a host that receives unicast copies of group traffic.
type peer struct {
	addr [4]byte
	port uint16
	tx   atomic.Uint64
	rx   atomic.Uint64
}

type bindingKind uint8

const (
	bindNone bindingKind = iota
	bindUnderlay
	bindDevice
)

type binding struct {
	kind     bindingKind
	underlay int
	vnet     *vnet
}

func (c *config) binding(worker int, port pmd.PortID) binding {
	if worker >= len(c.bindings) || int(port) >= len(c.bindings[worker]) || port < 0 {
		return binding{}
	}
	return c.bindings[worker][port]
}

func (c *config) isLocal(a [4]byte) bool {
	for _, l := range c.local {
		if l == a {
			return true
		}
	}
	return false
}

func (c *config) isPeer(a [4]byte) bool {
	for _, p := range c.peers {
		if p.addr == a {
			return true
		}
	}
	return false
}

// countPeerRx counts a copy received from peer a. Counting races between
// workers only make the count approximate in the moment.
func (c *config) countPeerRx(a [4]byte) {
	for _, p := range c.peers {
		if p.addr == a {
			p.rx.Add(1)
			return
		}
	}
}

// clone returns a shallow copy whose maps and slices the caller may
// replace without affecting c.
func (c *config) clone() *config {
	n := *c
	return &n
}
