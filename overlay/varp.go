package overlay

import (
	"net/netip"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// VARP resolution parameters. The probe interval, probe count and queue
// length are the original's (varp.c), whose resolver was switched off.
const (
	// probeInterval is the time between VARP requests for one MAC.
	probeInterval = 3
	// maxProbes is the number of requests after which an entry fails.
	maxProbes = 5
	// varpQueueLen is the number of frames kept per unresolved MAC; the
	// oldest is dropped for a new one.
	varpQueueLen = 16
	// maxPending bounds the MACs one worker resolves at a time, and so
	// the frames it holds for them.
	maxPending = 256
)

// learn records that mac on vn lives behind the underlay address addr.
// The table is written only when the mapping changes, at most at the
// vnet's learning rate. A MAC that was local and is now heard from
// another host has moved, so this host stops replying for it.
func (p *pipeline) learn(cfg *config, vn *vnet, mac wire.MAC, addr [4]byte) {
	k := makeKey(vn.index, mac)
	if v, s := vn.varp.lookup(k); s != nil && v.addr() == addr && v.state() == uint8(VarpReachable) {
		touch(s, p.now)
		return
	}
	st := &vn.stats[p.worker]
	if !vn.limiters[p.worker].learn.allow(p.nowNano, cfg.learnInterval, burst) {
		st.drops[dropLearnRate].inc()
		return
	}
	switch vn.varp.set(k, makeValue(addr, uint8(VarpReachable), 0), p.now) {
	case inserted, updated:
		st.learned.inc()
	case tableFull:
		st.drops[dropTableFull].inc()
		return
	}
	if v, s := vn.vifs.lookup(k); s != nil && v.flags()&flagStatic == 0 {
		vn.vifs.remove(k)
		st.moved.inc()
	}
}

// seenLocal records that mac sent a frame into vn's device, so that VARP
// requests for it get replies. A MAC seen for the first time is
// announced to the group, so that hosts that knew it elsewhere (it moved
// here) update their caches at once.
func (p *pipeline) seenLocal(w *pmd.Worker, cfg *config, vn *vnet, mac wire.MAC) {
	k := makeKey(vn.index, mac)
	if _, s := vn.vifs.lookup(k); s != nil {
		touch(s, p.now)
		return
	}
	st := &vn.stats[p.worker]
	if !vn.limiters[p.worker].learn.allow(p.nowNano, cfg.learnInterval, burst) {
		st.drops[dropLearnRate].inc()
		return
	}
	switch vn.vifs.set(k, makeValue([4]byte{}, 0, 0), p.now) {
	case tableFull:
		st.drops[dropTableFull].inc()
		return
	case inserted:
		vn.varp.remove(k)
		if vn.limiters[p.worker].flood.allow(p.nowNano, cfg.floodInterval, burst) {
			p.sendVarp(w, cfg, vn, wire.VarpAnnounce, mac)
			st.announced.inc()
		}
	}
}

// varp replies to a request for a local MAC with an announce, and
// records announces.
func (p *pipeline) varp(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, msg []byte, forwarded bool, sa *vnet) {
	v, ok := wire.ParseVarp(msg)
	if !ok {
		p.malformed(w, d, wire.ReasonVarp)
		return
	}
	vn := cfg.vnets[v.Vnet()]
	if !p.checkSA(w, vn, sa, d) {
		return
	}
	switch v.Opcode() {
	case wire.VarpRequest:
		p.stats.varpRequestsIn.inc()
		if vn == nil {
			p.drop(w, d, dropUnknownVnet)
			return
		}
		mac := v.MAC()
		if _, s := vn.vifs.lookup(makeKey(vn.index, mac)); s == nil {
			p.drop(w, d, dropVarpNotLocal)
			return
		}
		p.reply(w, cfg, up, d, vn, mac, ethSrc, src, forwarded)
	case wire.VarpAnnounce:
		p.stats.varpAnnouncesIn.inc()
		if v.Family() != wire.VarpFamilyIPv4 {
			p.malformed(w, d, wire.ReasonVarp)
			return
		}
		if vn == nil {
			p.drop(w, d, dropUnknownVnet)
			return
		}
		if addr := v.Addr(); !cfg.isLocal(addr) {
			p.learn(cfg, vn, v.MAC(), addr)
		}
		w.Release(d)
	default:
		p.malformed(w, d, wire.ReasonVarp)
	}
}

// reply turns the request frame d into the reply: an announce of mac on
// vn with this host's address, sent by unicast to the requester's
// address at port 1798. A request from a host on the port's subnet is
// answered to the Ethernet address it came from, as the original did.
// One relayed by a peer, or re-sent by a forwarder on this segment for a
// host elsewhere, is answered through the requester's next hop.
func (p *pipeline) reply(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, vn *vnet, mac, ethSrc wire.MAC, requester [4]byte, forwarded bool) {
	l2 := ethSrc
	if forwarded || !up.prefix.Contains(netip.AddrFrom4(requester)) {
		nh, ok := cfg.nextHops[requester]
		if !ok {
			p.resolveHop(requester)
			p.drop(w, d, dropNoRoute)
			return
		}
		up = cfg.underlay[nh.port]
		l2 = nh.mac
	}
	if p.umem.Headroom(d.Addr)+wire.VarpPacketLen > p.umem.FrameSize() {
		p.drop(w, d, dropHeadroom)
		return
	}
	o := wire.Outer{
		EthDst:  l2,
		EthSrc:  up.mac,
		Src:     up.addr,
		Dst:     requester,
		TTL:     wire.DefaultTTL,
		ID:      p.nextID(),
		SrcPort: wire.Port,
		Vnet:    vn.id,
	}
	n := wire.PutVarpPacket(p.umem.Bytes(d.Addr, wire.VarpPacketLen), &o, wire.VarpAnnounce, mac, up.addr)
	out := pmd.Desc{Addr: d.Addr, Len: uint32(n)}
	if vn.mode != 0 {
		var sealed bool
		if out, sealed = p.seal(w, vn, up, out); !sealed {
			return
		}
	}
	p.stats.varpRepliesOut.inc()
	p.toUnderlay(w, cfg, up, out)
}

// sendVarp sends a request for, or an announce of, mac on vn to the
// group on every underlay port and to the peers. The message of a secure
// vnet is sealed in ESP, once for each port, since the SA is bound to
// the port's address.
func (p *pipeline) sendVarp(w *pmd.Worker, cfg *config, vn *vnet, op uint16, mac wire.MAC) {
	ports := cfg.underlay
	if vn.mode == 0 && len(ports) > 1 {
		// toGroup copies the plain message to the other ports.
		ports = ports[:1]
	}
	for _, up := range ports {
		if up.ports[p.worker] < 0 {
			continue
		}
		addr, ok := p.umem.Alloc()
		if !ok {
			p.stats.drops[dropNoMemory].inc()
			return
		}
		o := wire.Outer{
			EthDst:  cfg.groupMAC,
			EthSrc:  up.mac,
			Src:     up.addr,
			Dst:     cfg.group,
			TTL:     cfg.groupTTL,
			ID:      p.nextID(),
			SrcPort: wire.Port,
			Vnet:    vn.id,
		}
		n := wire.PutVarpPacket(p.umem.Bytes(addr, wire.VarpPacketLen), &o, op, mac, up.addr)
		d := pmd.Desc{Addr: addr, Len: uint32(n)}
		if vn.mode != 0 {
			if d, ok = p.seal(w, vn, up, d); !ok {
				continue
			}
		}
		if op == wire.VarpRequest {
			p.stats.varpRequestsOut.inc()
		} else {
			p.stats.varpAnnouncesOut.inc()
		}
		if up.index == 0 {
			p.toGroup(w, cfg, d, vn.mode == 0)
		} else {
			p.toUnderlay(w, cfg, up, d)
		}
	}
}

// pendingKey names a MAC being resolved on one vnet. The vnet pointer
// keeps entries of a deleted vnet apart from a new vnet that reuses its
// index.
type pendingKey struct {
	vn  *vnet
	key macKey
}

// pendingEntry is a queue of frames waiting for one MAC's resolution.
type pendingEntry struct {
	pendingKey
	frames [varpQueueLen]pmd.Desc
	head   int
	n      int
}

// pendingQueues are one worker's frames waiting for VARP replies. The
// frames belong to the worker's UMEM, so each worker keeps its own.
type pendingQueues struct {
	entries [maxPending]pendingEntry
	free    []int
	index   map[pendingKey]int
}

func (q *pendingQueues) init() {
	q.index = make(map[pendingKey]int, maxPending)
	q.free = make([]int, 0, maxPending)
	for i := maxPending - 1; i >= 0; i-- {
		q.free = append(q.free, i)
	}
}

func (e *pendingEntry) push(d pmd.Desc) (dropped pmd.Desc, full bool) {
	if e.n == varpQueueLen {
		dropped = e.frames[e.head]
		e.frames[e.head] = d
		e.head = (e.head + 1) % varpQueueLen
		return dropped, true
	}
	e.frames[(e.head+e.n)%varpQueueLen] = d
	e.n++
	return pmd.Desc{}, false
}

// resolveMiss handles a unicast frame to a MAC that is not reachable:
// it queues the frame and, unless a request is outstanding, asks the
// group where the MAC is. An entry that failed recently drops the frame.
func (p *pipeline) resolveMiss(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc, mac wire.MAC) {
	k := makeKey(vn.index, mac)
	st := &vn.stats[p.worker]
	pk := pendingKey{vn: vn, key: k}
	q := &p.pending
	if i, ok := q.index[pk]; ok {
		if old, full := q.entries[i].push(d); full {
			st.drops[dropVarpQueueFull].inc()
			w.Release(old)
		}
		return
	}

	v, s := vn.varp.lookup(k)
	switch {
	case s == nil:
		if !vn.limiters[p.worker].learn.allow(p.nowNano, cfg.learnInterval, burst) {
			p.vnetDrop(w, vn, d, dropLearnRate)
			return
		}
		r := vn.varp.set(k, makeValue([4]byte{}, uint8(VarpIncomplete), flagProbing).withProbes(1), p.now)
		if r == tableFull {
			p.vnetDrop(w, vn, d, dropTableFull)
			return
		}
		if r == inserted {
			p.sendVarp(w, cfg, vn, wire.VarpRequest, mac)
		}
	case v.state() == uint8(VarpFailed):
		// Probing starts over, as in the original, but no faster than
		// the probe interval.
		_, restarted := vn.varp.update(k, p.now, func(old entryValue, seen uint32) (entryValue, bool) {
			if old.state() != uint8(VarpFailed) || p.now-seen < probeInterval {
				return old, false
			}
			return makeValue([4]byte{}, uint8(VarpIncomplete), flagProbing).withProbes(1), true
		})
		if !restarted {
			p.vnetDrop(w, vn, d, dropVarpFailed)
			return
		}
		p.sendVarp(w, cfg, vn, wire.VarpRequest, mac)
	}
	// Incomplete: this worker or another is probing; queue the frame.
	if len(q.free) == 0 {
		p.vnetDrop(w, vn, d, dropVarpQueueFull)
		return
	}
	i := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	e := &q.entries[i]
	*e = pendingEntry{pendingKey: pk}
	e.push(d)
	q.index[pk] = i
}

// serviceResolution delivers queued frames whose MAC became reachable,
// sends the next probe for MACs still incomplete, and drops the frames
// of MACs that failed or whose vnet is gone.
func (p *pipeline) serviceResolution(w *pmd.Worker, cfg *config) {
	q := &p.pending
	if len(q.index) == 0 {
		return
	}
	for pk, i := range q.index {
		e := &q.entries[i]
		vn := pk.vn
		if cfg.vnets[vn.id] != vn {
			p.dropPending(w, e, nil, dropNoPort)
			p.freePending(pk, i)
			continue
		}
		v, s := vn.varp.lookup(pk.key)
		switch {
		case s == nil:
			p.dropPending(w, e, vn, dropVarpFailed)
		case v.state() == uint8(VarpReachable):
			for ; e.n > 0; e.n-- {
				d := e.frames[e.head]
				e.head = (e.head + 1) % varpQueueLen
				p.unicast(w, cfg, vn, d, v.addr())
			}
		case v.state() == uint8(VarpFailed):
			p.dropPending(w, e, vn, dropVarpFailed)
		default:
			p.probe(w, cfg, vn, pk.key)
			continue
		}
		p.freePending(pk, i)
	}
}

// probe sends the next request for an incomplete entry once the probe
// interval has passed, or marks it failed after maxProbes requests.
// Workers race for each probe; the table's update lets one win.
func (p *pipeline) probe(w *pmd.Worker, cfg *config, vn *vnet, k macKey) {
	v, ok := vn.varp.update(k, p.now, func(old entryValue, seen uint32) (entryValue, bool) {
		if old.state() != uint8(VarpIncomplete) || p.now-seen < probeInterval {
			return old, false
		}
		if old.probes() >= maxProbes {
			return makeValue([4]byte{}, uint8(VarpFailed), 0), true
		}
		return old.withProbes(old.probes() + 1), true
	})
	if ok && v.state() == uint8(VarpIncomplete) {
		p.sendVarp(w, cfg, vn, wire.VarpRequest, k.mac())
	}
}

func (p *pipeline) dropPending(w *pmd.Worker, e *pendingEntry, vn *vnet, r dropReason) {
	for ; e.n > 0; e.n-- {
		d := e.frames[e.head]
		e.head = (e.head + 1) % varpQueueLen
		if vn != nil {
			p.vnetDrop(w, vn, d, r)
		} else {
			p.drop(w, d, r)
		}
	}
}

func (p *pipeline) freePending(pk pendingKey, i int) {
	q := &p.pending
	delete(q.index, pk)
	q.free = append(q.free, i)
}

// queuedFrames returns, per MAC of vn, the frames this worker holds for
// its resolution. It runs on the worker's goroutine.
func (p *pipeline) queuedFrames(vn *vnet, into map[macKey]int) {
	for pk, i := range p.pending.index {
		if pk.vn == vn {
			into[pk.key] += p.pending.entries[i].n
		}
	}
}

// queuedByVnet collects the queue lengths of every worker for the
// entries of vn. The caller holds e.mu.
func (e *Engine) queuedByVnet(vn *vnet) map[macKey]int {
	m := make(map[macKey]int)
	for _, ew := range e.workers {
		pipe := ew.pipe
		_ = ew.w.Call(func(*pmd.Worker) { pipe.queuedFrames(vn, m) })
	}
	return m
}

// announce sends a gratuitous announce of a local MAC from worker 0. The
// caller holds e.mu.
func (e *Engine) announce(vn *vnet, mac wire.MAC) {
	if len(e.workers) == 0 {
		return
	}
	ew := e.workers[0]
	pipe := ew.pipe
	err := ew.w.Call(func(w *pmd.Worker) {
		pipe.sendVarp(w, e.cfg.Load(), vn, wire.VarpAnnounce, mac)
		vn.stats[pipe.worker].announced.inc()
	})
	if err != nil {
		e.log.Sugar().Warnw("announce vif failed", "vnet", vn.id, "mac", mac, "error", err)
	}
}
