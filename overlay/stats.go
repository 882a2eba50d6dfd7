package overlay

import (
	"sync/atomic"

	"github.com/vnet-xdp/vnet/overlay/esp"
)

// counter has one writer, a worker, and any number of readers.
type counter struct{ v atomic.Uint64 }

func (c *counter) inc()         { c.v.Store(c.v.Load() + 1) }
func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) load() uint64 { return c.v.Load() }

// dropReason names why the data path discarded a frame.
type dropReason uint8

const (
	dropMalformed     dropReason = iota // a header is truncated or invalid
	dropNotVnet                         // steered to the dataplane but not vnet traffic
	dropNotForUs                        // outer destination is neither a local address nor the group
	dropOwnTraffic                      // outer source is a local address: our own group traffic
	dropUnknownVnet                     // no local vnet has the frame's id
	dropFragment                        // outer IPv4 fragment
	dropNotFromPeer                     // forwarded copy from a host that is not a configured peer
	dropOversize                        // frame larger than the device or underlay MTU allows
	dropShortFrame                      // inner frame shorter than an Ethernet header
	dropNoRoute                         // no underlay port leads to the destination
	dropNoPort                          // the frame came in or would go out on a port being set up or removed
	dropHeadroom                        // not enough room before the frame for the outer headers
	dropTableFull                       // a VARP or vif table had no room for a new entry
	dropNoMemory                        // no free frame for a copy
	dropVarpNotLocal                    // VARP request for a MAC that is not local (no reply)
	dropLearnRate                       // a new table entry over the vnet's learning rate
	dropFloodRate                       // a frame to the group over the vnet's flood rate
	dropVarpQueueFull                   // the oldest frame waiting for a VARP reply, pushed out
	dropVarpFailed                      // a frame to a MAC that VARP could not resolve
	dropDuplicate                       // a group packet seen within the duplicate window
	dropSealFailed                      // sealing in ESP failed
	dropInsecure                        // a plain frame, VARP message or copy for a secure vnet
	dropWrongVnet                       // an ESP payload that names another vnet than its SA
	dropESP                             // an ESP packet that did not open; esp counts why
	dropReasons
)

var dropNames = [dropReasons]string{
	dropMalformed:     "malformed",
	dropNotVnet:       "not_vnet",
	dropNotForUs:      "not_for_us",
	dropOwnTraffic:    "own_traffic",
	dropUnknownVnet:   "unknown_vnet",
	dropFragment:      "fragment",
	dropNotFromPeer:   "not_from_peer",
	dropOversize:      "oversize",
	dropShortFrame:    "short_frame",
	dropNoRoute:       "no_route",
	dropNoPort:        "no_port",
	dropHeadroom:      "no_headroom",
	dropTableFull:     "table_full",
	dropNoMemory:      "no_memory",
	dropVarpNotLocal:  "varp_not_local",
	dropLearnRate:     "learn_rate",
	dropFloodRate:     "flood_rate",
	dropVarpQueueFull: "varp_queue_full",
	dropVarpFailed:    "varp_failed",
	dropDuplicate:     "duplicate",
	dropSealFailed:    "seal_failed",
	dropInsecure:      "insecure",
	dropWrongVnet:     "wrong_vnet",
	dropESP:           "esp",
}

func (r dropReason) String() string { return dropNames[r] }

// workerStats are one worker's counters for traffic that is not tied to
// one vnet.
type workerStats struct {
	drops     [dropReasons]counter
	malformed [16]counter // indexed by wire.Reason

	varpRequestsIn, varpAnnouncesIn   counter
	varpRequestsOut, varpAnnouncesOut counter
	varpRepliesOut                    counter
	forwardedIn, forwardedOut         counter
	resent                            counter
	reassembled, reassemblyFailed     counter
	fragmentsOut                      counter
	resolveRequests                   counter
	// esp counts ESP packets rejected, by esp.Reason; esp[0] counts
	// those opened.
	esp [esp.NumReasons]counter
	// espRejectedFrom is the outer IPv4 source, big-endian, of the last
	// ESP packet that no SA or key opened.
	espRejectedFrom counter
}

// vnetStats are one worker's counters for one vnet.
type vnetStats struct {
	// Encapsulated: frames from the vnet's device sent to the underlay.
	txFrames, txBytes counter
	// Decapsulated: frames from the underlay delivered to the device.
	rxFrames, rxBytes counter
	// flooded counts frames sent to the group: broadcast, multicast and
	// unknown unicast.
	flooded counter
	// unicast counts frames sent to a learned host.
	unicast counter
	// unresolved counts unicast frames flooded because the next hop's
	// MAC address was not yet known.
	unresolved counter
	learned    counter
	// announced counts gratuitous announces of local MACs; moved counts
	// local MACs that another host announced or sent from.
	announced, moved counter
	// tooBig counts ICMP "too big" replies; fragmented the fragments
	// made of inner packets without DF.
	tooBig, fragmented counter
	// sealed and opened count ESP packets of a secure vnet.
	sealed, opened counter
	drops          [dropReasons]counter
}

// addFrom adds the counters of o to s. Summing one worker's counters
// into a local total is how readers combine the workers.
func (s *workerStats) addFrom(o *workerStats) {
	for i := range s.drops {
		s.drops[i].add(o.drops[i].load())
	}
	for i := range s.malformed {
		s.malformed[i].add(o.malformed[i].load())
	}
	for _, c := range []struct{ sum, v *counter }{
		{&s.varpRequestsIn, &o.varpRequestsIn}, {&s.varpAnnouncesIn, &o.varpAnnouncesIn},
		{&s.varpRequestsOut, &o.varpRequestsOut}, {&s.varpAnnouncesOut, &o.varpAnnouncesOut},
		{&s.varpRepliesOut, &o.varpRepliesOut}, {&s.forwardedIn, &o.forwardedIn},
		{&s.forwardedOut, &o.forwardedOut}, {&s.resent, &o.resent},
		{&s.reassembled, &o.reassembled}, {&s.reassemblyFailed, &o.reassemblyFailed},
		{&s.fragmentsOut, &o.fragmentsOut}, {&s.resolveRequests, &o.resolveRequests},
	} {
		c.sum.add(c.v.load())
	}
	for i := range s.esp {
		s.esp[i].add(o.esp[i].load())
	}
}

// addFrom adds the counters of o to s.
func (s *vnetStats) addFrom(o *vnetStats) {
	for _, c := range []struct{ sum, v *counter }{
		{&s.txFrames, &o.txFrames}, {&s.txBytes, &o.txBytes},
		{&s.rxFrames, &o.rxFrames}, {&s.rxBytes, &o.rxBytes},
		{&s.flooded, &o.flooded}, {&s.unicast, &o.unicast}, {&s.unresolved, &o.unresolved},
		{&s.learned, &o.learned}, {&s.announced, &o.announced}, {&s.moved, &o.moved},
		{&s.tooBig, &o.tooBig}, {&s.fragmented, &o.fragmented},
		{&s.sealed, &o.sealed}, {&s.opened, &o.opened},
	} {
		c.sum.add(c.v.load())
	}
	for r := range s.drops {
		s.drops[r].add(o.drops[r].load())
	}
}
