package overlay

import (
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// timeNow is time.Now, replaceable in tests.
var timeNow = time.Now

// hopResolver finds the Ethernet address of the next hop towards each
// unicast underlay destination in the kernel's routing and neighbour
// tables, and keeps the data path's next hop table current. Workers ask
// for destinations they have no next hop for through the engine's
// resolve queue.
type hopResolver struct {
	e *Engine
	// log is sampled: the destinations come from the network, and each
	// unroutable one would log a line.
	log *zap.Logger
	// routes maps each destination asked for to the interface and
	// neighbour it is reached through.
	routes map[[4]byte]route
}

type route struct {
	port    int
	ifindex int
	via     [4]byte
}

// resolveLogBurst is how many lines of one message the resolver logs per
// second; the rest of that second's are dropped.
const resolveLogBurst = 5

// resolveRefresh is how often installed next hops are looked up again.
const resolveRefresh = 30 * time.Second

// usableNeigh is the set of neighbour states whose link-layer address
// can be used. A stale entry is usually still right, and the periodic
// refresh requests that the kernel confirm it.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

func newHopResolver(e *Engine) *hopResolver {
	sampled := e.log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, resolveLogBurst, 0)
	}))
	return &hopResolver{e: e, log: sampled, routes: make(map[[4]byte]route)}
}

func (r *hopResolver) run() {
	defer r.e.bg.Done()
	updates := make(chan netlink.NeighUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	err := netlink.NeighSubscribeWithOptions(updates, done, netlink.NeighSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case <-r.e.stop:
			default:
				r.e.log.Warn("neighbour subscription failed", zap.Error(err))
			}
		},
	})
	if err != nil {
		r.e.log.Error("subscribe to neighbour updates; next hops are refreshed only periodically", zap.Error(err))
		updates = nil
	}
	refresh := time.NewTicker(resolveRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-r.e.stop:
			return
		case <-r.e.resolveWake:
			for {
				dst, ok := r.e.resolveQ.Dequeue()
				if !ok {
					break
				}
				r.resolve(dst)
			}
		case <-refresh.C:
			r.refresh()
		case u, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			r.neighUpdate(u)
		}
	}
}

// refresh drops destinations that no VARP entry points to any more and
// looks up the others again, so that route and neighbour changes the
// kernel did not announce are picked up.
func (r *hopResolver) refresh() {
	inUse := make(map[[4]byte]bool)
	cfg := r.e.cfg.Load()
	for _, vn := range cfg.vnets {
		for _, te := range vn.varp.entries() {
			inUse[te.value.addr()] = true
		}
	}
	for _, p := range cfg.peers {
		inUse[p.addr] = true
	}
	for dst := range r.routes {
		if !inUse[dst] {
			delete(r.routes, dst)
			r.uninstall(dst)
			continue
		}
		r.resolve(dst)
	}
}

// resolve looks up the route to dst and installs its next hop, or
// requests that the kernel resolve the neighbour.
func (r *hopResolver) resolve(dst [4]byte) {
	log := r.log.With(zap.Stringer("dst", net.IP(dst[:])))
	routes, err := netlink.RouteGet(net.IP(dst[:]))
	if err != nil || len(routes) == 0 {
		log.Warn("no route to underlay destination", zap.Error(err))
		r.uninstall(dst)
		return
	}
	rt := routes[0]
	port := r.e.underlayByIfindex(rt.LinkIndex)
	if port < 0 {
		log.Warn("underlay destination is routed through an interface the dataplane does not serve",
			zap.Int("ifindex", rt.LinkIndex))
		r.uninstall(dst)
		return
	}
	via := dst
	if gw := rt.Gw.To4(); gw != nil {
		via = [4]byte(gw)
	}
	rr := route{port: port, ifindex: rt.LinkIndex, via: via}
	r.routes[dst] = rr
	neighs, err := netlink.NeighList(rt.LinkIndex, netlink.FAMILY_V4)
	if err != nil {
		log.Warn("list neighbours", zap.Error(err))
		return
	}
	for _, n := range neighs {
		if ip := n.IP.To4(); ip != nil && [4]byte(ip) == via && n.State&usableNeigh != 0 && len(n.HardwareAddr) == 6 {
			r.install(dst, rr, [6]byte(n.HardwareAddr))
			if n.State&netlink.NUD_STALE != 0 {
				r.trigger(rr)
			}
			return
		}
	}
	r.trigger(rr)
}

// underlayByIfindex returns the index of the underlay interface with
// ifindex, or -1. The link watcher replaces deleted interfaces under
// e.mu.
func (e *Engine) underlayByIfindex(ifindex int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, us := range e.underlay {
		if !us.gone && us.port.ifindex == ifindex {
			return i
		}
	}
	return -1
}

// trigger requests that the kernel resolve or confirm a neighbour, as if
// it had a packet for it (NTF_USE). The result arrives as a neighbour
// update.
func (r *hopResolver) trigger(rr route) {
	err := netlink.NeighSet(&netlink.Neigh{
		LinkIndex: rr.ifindex,
		Family:    unix.AF_INET,
		IP:        net.IP(rr.via[:]),
		Flags:     netlink.NTF_USE,
	})
	if err != nil {
		r.log.Warn("request neighbour resolution", zap.Stringer("neighbour", net.IP(rr.via[:])), zap.Error(err))
	}
}

func (r *hopResolver) neighUpdate(u netlink.NeighUpdate) {
	ip := u.IP.To4()
	if ip == nil {
		return
	}
	via := [4]byte(ip)
	usable := u.Type == unix.RTM_NEWNEIGH && u.State&usableNeigh != 0 && len(u.HardwareAddr) == 6
	for dst, rr := range r.routes {
		if rr.via != via || rr.ifindex != u.LinkIndex {
			continue
		}
		if usable {
			r.install(dst, rr, [6]byte(u.HardwareAddr))
		} else if u.Type == unix.RTM_DELNEIGH || u.State&netlink.NUD_FAILED != 0 {
			r.uninstall(dst)
		}
	}
}

func (r *hopResolver) install(dst [4]byte, rr route, mac [6]byte) {
	nh := nextHop{port: rr.port, mac: mac}
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	if old, ok := r.e.cfg.Load().nextHops[dst]; ok && old == nh {
		return
	}
	r.e.update(func(c *config) {
		c.nextHops = cloneHops(c.nextHops)
		c.nextHops[dst] = nh
	})
	r.e.log.Debug("next hop installed", zap.Stringer("dst", net.IP(dst[:])),
		zap.Stringer("via", net.IP(rr.via[:])), zap.Stringer("mac", net.HardwareAddr(mac[:])))
}

func (r *hopResolver) uninstall(dst [4]byte) {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	if _, ok := r.e.cfg.Load().nextHops[dst]; !ok {
		return
	}
	r.e.update(func(c *config) {
		c.nextHops = cloneHops(c.nextHops)
		delete(c.nextHops, dst)
	})
}

func cloneHops(m map[[4]byte]nextHop) map[[4]byte]nextHop {
	out := make(map[[4]byte]nextHop, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
