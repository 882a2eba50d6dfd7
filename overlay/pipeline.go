package overlay

import (
	"encoding/binary"
	"time"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// pipeline is the data path of one worker. It decapsulates frames from
// the underlay, encapsulates frames from vnet devices, resolves and
// learns addresses, and relays group traffic to peers. It runs only on
// its worker's goroutine.
type pipeline struct {
	eng    *Engine
	worker int
	umem   *pmd.Umem
	stats  *workerStats

	// now is the table clock in seconds and nowNano the engine clock in
	// nanoseconds, both read once per tick.
	now     uint32
	nowNano int64
	ipID    uint16
	// requested remembers next hops whose resolution was requested
	// recently, so that a burst to an unresolved host sends one request.
	requested [16]requestedHop
	pending   pendingQueues
	dups      dupCache
	frags     reassembler
	// opener opens the ESP packets of secure vnets.
	opener *esp.Opener
}

type requestedHop struct {
	addr [4]byte
	at   uint32
}

func newPipeline(e *Engine, worker int, u *pmd.Umem) *pipeline {
	p := &pipeline{eng: e, worker: worker, umem: u, stats: &workerStats{}, opener: e.sad.NewOpener()}
	p.pending.init()
	return p
}

// Process implements pmd.Handler.
func (p *pipeline) Process(w *pmd.Worker, in pmd.PortID, frames []pmd.Desc) {
	cfg := p.eng.cfg.Load()
	b := cfg.binding(p.worker, in)
	switch b.kind {
	case bindUnderlay:
		up := cfg.underlay[b.underlay]
		for _, d := range frames {
			if len(cfg.captures) > 0 {
				p.tap(cfg, nil, b.underlay, CaptureIn, d)
			}
			p.fromUnderlay(w, cfg, up, d)
		}
	case bindDevice:
		for _, d := range frames {
			if len(cfg.captures) > 0 {
				p.tap(cfg, b.vnet, -1, CaptureIn, d)
			}
			p.fromDevice(w, cfg, b.vnet, d)
		}
	default:
		for _, d := range frames {
			p.drop(w, d, dropNoPort)
		}
	}
}

// Tick implements pmd.Handler: it advances the clocks, sends VARP
// probes, delivers frames whose destination got resolved and expires
// fragment reassemblies.
func (p *pipeline) Tick(w *pmd.Worker, now time.Time) {
	p.now = p.eng.clock(now)
	p.nowNano = p.eng.nanos(now)
	p.opener.Tick(now)
	cfg := p.eng.cfg.Load()
	p.serviceResolution(w, cfg)
	p.frags.expire(p, w)
}

func (p *pipeline) drop(w *pmd.Worker, d pmd.Desc, r dropReason) {
	p.stats.drops[r].inc()
	w.Release(d)
}

func (p *pipeline) malformed(w *pmd.Worker, d pmd.Desc, r wire.Reason) {
	p.stats.malformed[r&15].inc()
	p.drop(w, d, dropMalformed)
}

func (p *pipeline) vnetDrop(w *pmd.Worker, vn *vnet, d pmd.Desc, r dropReason) {
	vn.stats[p.worker].drops[r].inc()
	w.Release(d)
}

// fromUnderlay handles one frame the XDP program steered from an
// underlay port: VUDP, VARP or VFWD in UDP, raw EtherIP, or a fragment
// of one of them.
func (p *pipeline) fromUnderlay(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc) {
	frame := p.umem.Frame(d)
	eth, ok := wire.ParseEthernet(frame)
	if !ok {
		p.malformed(w, d, wire.ReasonShort)
		return
	}
	if eth.EtherType() != wire.EtherTypeIPv4 {
		p.drop(w, d, dropNotVnet)
		return
	}
	ip, ok := wire.ParseIPv4(frame[wire.EthHeaderLen:])
	if !ok {
		p.malformed(w, d, wire.ReasonIPv4)
		return
	}
	dst, src := ip.Dst(), ip.Src()
	if dst != cfg.group && !cfg.isLocal(dst) {
		p.drop(w, d, dropNotForUs)
		return
	}
	if cfg.isLocal(src) {
		p.drop(w, d, dropOwnTraffic)
		return
	}
	if ip.IsFragment() {
		p.frags.add(p, w, cfg, up, d, ip)
		return
	}
	off := wire.EthHeaderLen + ip.HeaderLen()
	proto := ip.Protocol()
	if dst == cfg.group && len(cfg.peers) > 0 && (proto == wire.ProtoUDP || proto == wire.ProtoESP) {
		// This host relays the group to its peers.
		if !p.relayToPeers(w, cfg, frame[:wire.EthHeaderLen+ip.TotalLen()], src, ip.Payload()) {
			p.drop(w, d, dropDuplicate)
			return
		}
	}
	switch proto {
	case wire.ProtoUDP:
		udp, ok := wire.ParseUDP(ip.Payload())
		if !ok {
			p.malformed(w, d, wire.ReasonUDP)
			return
		}
		if udp.DstPort() != wire.Port {
			p.drop(w, d, dropNotVnet)
			return
		}
		p.message(w, cfg, up, d, eth.Src(), src, off+wire.UDPHeaderLen, udp.Payload(), false, nil)
	case wire.ProtoEtherIP:
		p.etherIP(w, cfg, d, src, off, ip.Payload(), nil)
	case wire.ProtoESP:
		p.openESP(w, cfg, up, d, eth.Src(), wire.EthHeaderLen, ip, false)
	default:
		p.drop(w, d, dropNotVnet)
	}
}

// openESP opens the ESP packet whose IPv4 header starts ipOff bytes into
// frame d, and handles its payload as the vnet of its SA. The SA binds
// the packet's IPv4 source, which learning then uses: the outer source,
// or the originator of a copy that a peer relayed.
func (p *pipeline) openESP(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, ipOff int, pkt []byte, forwarded bool) {
	res := p.opener.Open(pkt)
	p.stats.esp[res.Reason].inc()
	if res.Reason != esp.ReasonNone {
		if res.Reason == esp.ReasonNoSA || res.Reason == esp.ReasonAuth {
			src := wire.IPv4(pkt).Src()
			p.stats.espRejectedFrom.v.Store(uint64(binary.BigEndian.Uint32(src[:])))
		}
		p.drop(w, d, dropESP)
		return
	}
	vn := cfg.vnets[res.Vnet]
	if vn == nil || vn.mode != res.Mode {
		// The SA outlived its vnet by a batch, or the vnet was made
		// again with another level.
		p.drop(w, d, dropUnknownVnet)
		return
	}
	vn.stats[p.worker].opened.inc()
	src := wire.IPv4(pkt).Src()
	payload := pkt[res.Offset : res.Offset+res.Length]
	off := ipOff + res.Offset
	switch res.NextHeader {
	case wire.ProtoUDP:
		udp, ok := wire.ParseUDP(payload)
		if !ok {
			p.malformed(w, d, wire.ReasonUDP)
			return
		}
		if udp.DstPort() != wire.Port {
			p.vnetDrop(w, vn, d, dropNotVnet)
			return
		}
		p.message(w, cfg, up, d, ethSrc, src, off+wire.UDPHeaderLen, udp.Payload(), forwarded, vn)
	case wire.ProtoEtherIP:
		p.etherIP(w, cfg, d, src, off, payload, vn)
	default:
		p.malformed(w, d, wire.ReasonMsgID)
	}
}

// checkSA applies the rules of secure vnets to a message for vn that
// arrived in ESP with the SA of vnet sa, or in the clear when sa is nil.
// A secure vnet accepts only its own SA's packets, and an SA's packet
// names its own vnet. It reports whether the message may go on, and
// drops it otherwise.
func (p *pipeline) checkSA(w *pmd.Worker, vn, sa *vnet, d pmd.Desc) bool {
	switch {
	case sa != nil && sa != vn:
		p.stats.esp[esp.ReasonWrongVnet].inc()
		p.vnetDrop(w, sa, d, dropWrongVnet)
		return false
	case sa == nil && vn != nil && vn.mode != 0:
		p.vnetDrop(w, vn, d, dropInsecure)
		return false
	}
	return true
}

// message handles the UDP payload of a vnet message that starts off
// bytes into the frame. src is the sender as learning should see it: the
// outer source, or the originator of a forwarded copy. sa is the vnet
// whose SA opened the message, nil for a message in the clear.
func (p *pipeline) message(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, off int, msg []byte, forwarded bool, sa *vnet) {
	id, _, ok := wire.ParseMsgHeader(msg)
	if !ok {
		p.malformed(w, d, wire.ReasonShort)
		return
	}
	switch id {
	case wire.MsgVUDP:
		p.etherIP(w, cfg, d, src, off+wire.MsgHeaderLen, msg[wire.MsgHeaderLen:], sa)
	case wire.MsgVARP:
		p.varp(w, cfg, up, d, ethSrc, src, msg, forwarded, sa)
	case wire.MsgVFWD:
		if forwarded || sa != nil {
			// Forwarders never put a copy inside a copy.
			p.malformed(w, d, wire.ReasonForward)
			return
		}
		p.forwarded(w, cfg, up, d, ethSrc, src, off, msg)
	default:
		p.malformed(w, d, wire.ReasonMsgID)
	}
}

// etherIP delivers the frame inside an EtherIP header at off to its vnet
// and learns where its source lives.
func (p *pipeline) etherIP(w *pmd.Worker, cfg *config, d pmd.Desc, src [4]byte, off int, b []byte, sa *vnet) {
	e, ok := wire.ParseEtherIP(b)
	if !ok {
		if len(b) >= 2 && b[1]>>4 != wire.EtherIPVersion {
			p.malformed(w, d, wire.ReasonEtherIPVersion)
		} else {
			p.malformed(w, d, wire.ReasonShort)
		}
		return
	}
	vn := cfg.vnets[e.Vnet()]
	if !p.checkSA(w, vn, sa, d) {
		return
	}
	if vn == nil {
		p.drop(w, d, dropUnknownVnet)
		return
	}
	inner := e.Frame()
	if len(inner) > vn.maxFrame {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	innerSrc := wire.Ethernet(inner).Src()
	if !innerSrc.IsMulticast() && !innerSrc.IsZero() {
		p.learn(cfg, vn, innerSrc, src)
	}
	st := &vn.stats[p.worker]
	st.rxFrames.inc()
	st.rxBytes.add(uint64(len(inner)))
	p.toDevice(w, cfg, vn, pmd.Desc{Addr: d.Addr + uint64(off+wire.EtherIPHeaderLen), Len: uint32(len(inner))})
}

func (p *pipeline) nextID() uint16 {
	p.ipID++
	return p.ipID
}

// resolveHop requests that the control goroutine find the next hop's
// MAC address for dst, at most once a second per address.
func (p *pipeline) resolveHop(dst [4]byte) {
	oldest := 0
	for i := range p.requested {
		a := &p.requested[i]
		if a.addr == dst && p.now-a.at < 1 {
			return
		}
		if a.at < p.requested[oldest].at {
			oldest = i
		}
	}
	p.requested[oldest] = requestedHop{addr: dst, at: p.now}
	if p.eng.resolveQ.Enqueue(dst) {
		p.stats.resolveRequests.inc()
		select {
		case p.eng.resolveWake <- struct{}{}:
		default:
		}
	}
}

// copyFrame allocates a frame and copies b into it. It returns false when
// no frame is free or b does not fit.
func (p *pipeline) copyFrame(b []byte) (pmd.Desc, bool) {
	if len(b) > int(p.umem.MaxFrameLen(0)) {
		return pmd.Desc{}, false
	}
	addr, ok := p.umem.Alloc()
	if !ok {
		return pmd.Desc{}, false
	}
	c := pmd.Desc{Addr: addr, Len: uint32(len(b))}
	copy(p.umem.Frame(c), b)
	return c, true
}
