package overlay

import (
	"encoding/binary"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// pipeline is the data path of one worker: it decapsulates frames from
// the underlay, encapsulates frames from vnet devices, replies to VARP
// requests and learns addresses. It runs only on its worker's goroutine.
type pipeline struct {
	eng    *Engine
	worker int
	umem   *pmd.Umem
	stats  *workerStats

	// now is the table clock in seconds, read once per tick.
	now  uint32
	ipID uint16
	// requested remembers next hops whose resolution was requested
	// recently, so that a burst to an unresolved host sends one request.
	requested [16]requestedHop
}

type requestedHop struct {
	addr [4]byte
	at   uint32
}

// Process implements pmd.Handler.
func (p *pipeline) Process(w *pmd.Worker, in pmd.PortID, frames []pmd.Desc) {
	cfg := p.eng.cfg.Load()
	b := cfg.binding(p.worker, in)
	switch b.kind {
	case bindUnderlay:
		up := cfg.underlay[b.underlay]
		for _, d := range frames {
			p.fromUnderlay(w, cfg, up, d)
		}
	case bindDevice:
		for _, d := range frames {
			p.fromDevice(w, cfg, b.vnet, d)
		}
	default:
		for _, d := range frames {
			p.stats.drops[dropNoPort].inc()
			w.Release(d)
		}
	}
}

// Tick implements pmd.Handler.
func (p *pipeline) Tick(w *pmd.Worker, now time.Time) {
	p.now = p.eng.clock(now)
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
// underlay port: VUDP, VARP or VFWD in UDP, or raw EtherIP.
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
	if ip.IsFragment() {
		p.drop(w, d, dropFragment)
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
	off := wire.EthHeaderLen + ip.HeaderLen()
	switch ip.Protocol() {
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
		p.message(w, cfg, up, d, eth.Src(), src, off+wire.UDPHeaderLen, udp.Payload(), false)
	case wire.ProtoEtherIP:
		p.etherIP(w, cfg, d, src, off, ip.Payload())
	default:
		p.drop(w, d, dropNotVnet)
	}
}

// message handles the UDP payload of a vnet message that starts off
// bytes into the frame. src is the sender as learning should see it: the
// outer source, or the originator of a forwarded copy.
func (p *pipeline) message(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, off int, msg []byte, forwarded bool) {
	id, _, ok := wire.ParseMsgHeader(msg)
	if !ok {
		p.malformed(w, d, wire.ReasonShort)
		return
	}
	switch id {
	case wire.MsgVUDP:
		p.etherIP(w, cfg, d, src, off+wire.MsgHeaderLen, msg[wire.MsgHeaderLen:])
	case wire.MsgVARP:
		p.varp(w, cfg, up, d, ethSrc, src, msg, forwarded)
	case wire.MsgVFWD:
		if forwarded {
			// A copy inside a copy is never sent by a forwarder.
			p.malformed(w, d, wire.ReasonForward)
			return
		}
		p.forwarded(w, cfg, up, d, ethSrc, src, off, msg)
	default:
		p.malformed(w, d, wire.ReasonMsgID)
	}
}

// forwarded handles a VFWD copy: a group packet that a peer relayed by
// unicast. Only configured peers are trusted.
func (p *pipeline) forwarded(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, off int, msg []byte) {
	if !cfg.isPeer(src) {
		p.drop(w, d, dropNotFromPeer)
		return
	}
	f, ok := wire.ParseForward(msg[wire.MsgHeaderLen:])
	if !ok {
		p.malformed(w, d, wire.ReasonForward)
		return
	}
	p.stats.forwardedIn.inc()
	cfg.countPeerRx(src)
	origin := f.InnerSrc()
	if origin == ([4]byte{}) {
		origin = src
	}
	if cfg.isLocal(origin) {
		p.drop(w, d, dropOwnTraffic)
		return
	}
	inner := wire.MsgHeaderLen + f.InnerHeaderLen() + wire.UDPHeaderLen
	p.message(w, cfg, up, d, ethSrc, origin, off+inner, msg[inner:], true)
}

// etherIP delivers the frame inside an EtherIP header at off to its vnet
// and learns where its source lives.
func (p *pipeline) etherIP(w *pmd.Worker, cfg *config, d pmd.Desc, src [4]byte, off int, b []byte) {
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
		p.learn(vn, innerSrc, src)
	}
	st := &vn.stats[p.worker]
	st.rxFrames.inc()
	st.rxBytes.add(uint64(len(inner)))
	port := vn.ports[p.worker]
	w.Transmit(port, pmd.Desc{Addr: d.Addr + uint64(off+wire.EtherIPHeaderLen), Len: uint32(len(inner))})
}

// learn records that mac on vn lives behind the underlay address addr.
// The table is written only when the mapping changes.
func (p *pipeline) learn(vn *vnet, mac wire.MAC, addr [4]byte) {
	k := makeKey(vn.index, mac)
	if v, s := p.eng.varp.lookup(k); s != nil && v.addr() == addr && v.state() == uint8(VarpReachable) {
		touch(s, p.now)
		return
	}
	switch p.eng.varp.set(k, makeValue(addr, uint8(VarpReachable), 0), p.now) {
	case inserted, updated:
		vn.stats[p.worker].learned.inc()
	case tableFull:
		vn.stats[p.worker].drops[dropTableFull].inc()
	}
}

// varp answers a request for a local MAC with an announce, and records
// announces.
func (p *pipeline) varp(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, msg []byte, forwarded bool) {
	v, ok := wire.ParseVarp(msg)
	if !ok {
		p.malformed(w, d, wire.ReasonVarp)
		return
	}
	vn := cfg.vnets[v.Vnet()]
	switch v.Opcode() {
	case wire.VarpRequest:
		p.stats.varpRequestsIn.inc()
		if vn == nil {
			p.drop(w, d, dropUnknownVnet)
			return
		}
		mac := v.MAC()
		if _, s := p.eng.vifs.lookup(makeKey(vn.index, mac)); s == nil {
			p.drop(w, d, dropVarpNotLocal)
			return
		}
		p.announce(w, up, d, vn, mac, ethSrc, src, forwarded)
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
		p.learn(vn, v.MAC(), v.Addr())
		w.Release(d)
	default:
		p.malformed(w, d, wire.ReasonVarp)
	}
}

// announce turns the request frame d into the reply: an announce of mac
// on vn with this host's address, sent by unicast to the requester's
// address at port 1798. A request that arrived directly is answered to
// the Ethernet address it came from; one relayed by a peer is answered
// through the requester's next hop.
func (p *pipeline) announce(w *pmd.Worker, up *underlayPort, d pmd.Desc, vn *vnet, mac, ethSrc wire.MAC, requester [4]byte, forwarded bool) {
	l2 := ethSrc
	if forwarded {
		cfg := p.eng.cfg.Load()
		nh, ok := cfg.nextHops[requester]
		if !ok {
			p.resolve(requester)
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
	p.stats.varpRepliesOut.inc()
	w.Transmit(up.ports[p.worker], pmd.Desc{Addr: d.Addr, Len: uint32(n)})
}

// fromDevice encapsulates a frame that a VM sent into vnet vn's device.
func (p *pipeline) fromDevice(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc) {
	frame := p.umem.Frame(d)
	if len(frame) < wire.EthHeaderLen {
		p.vnetDrop(w, vn, d, dropShortFrame)
		return
	}
	if len(frame) > vn.maxFrame {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	eth := wire.Ethernet(frame)
	if src := eth.Src(); !src.IsMulticast() && !src.IsZero() {
		p.seenLocal(vn, src)
	}
	// A Linux sender with checksum offload leaves only the pseudo-header
	// sum in TCP and UDP checksums; nothing after us would finish them.
	wire.CompleteL4Checksum(frame)

	st := &vn.stats[p.worker]
	dstMAC := eth.Dst()
	if !dstMAC.IsMulticast() {
		if v, s := p.eng.varp.lookup(makeKey(vn.index, dstMAC)); s != nil && v.state() == uint8(VarpReachable) {
			dst := v.addr()
			if nh, ok := cfg.nextHops[dst]; ok {
				up := cfg.underlay[nh.port]
				p.encapsulate(w, vn, up, d, nh.mac, dst, wire.DefaultTTL, frame)
				return
			}
			p.resolve(dst)
			st.unresolved.inc()
		}
	}
	st.flooded.inc()
	p.flood(w, cfg, vn, d, frame)
}

// flood sends a frame to the group on every underlay port.
func (p *pipeline) flood(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc, frame []byte) {
	for i := 1; i < len(cfg.underlay); i++ {
		addr, ok := p.umem.Alloc()
		if !ok {
			vn.stats[p.worker].drops[dropNoMemory].inc()
			continue
		}
		c := pmd.Desc{Addr: addr, Len: d.Len}
		copy(p.umem.Frame(c), frame)
		p.encapsulate(w, vn, cfg.underlay[i], c, cfg.groupMAC, cfg.group, cfg.groupTTL, p.umem.Frame(c))
	}
	p.encapsulate(w, vn, cfg.underlay[0], d, cfg.groupMAC, cfg.group, cfg.groupTTL, frame)
}

// encapsulate writes the outer headers in front of the frame and queues
// it on the underlay port.
func (p *pipeline) encapsulate(w *pmd.Worker, vn *vnet, up *underlayPort, d pmd.Desc, l2 wire.MAC, dst [4]byte, ttl uint8, frame []byte) {
	if p.umem.Headroom(d.Addr) < wire.EncapLen {
		p.vnetDrop(w, vn, d, dropHeadroom)
		return
	}
	if wire.EncapLen-wire.EthHeaderLen+len(frame) > up.mtu {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	port := up.ports[p.worker]
	if port < 0 {
		p.vnetDrop(w, vn, d, dropNoPort)
		return
	}
	o := wire.Outer{
		EthDst:       l2,
		EthSrc:       up.mac,
		Src:          up.addr,
		Dst:          dst,
		TTL:          ttl,
		ID:           p.nextID(),
		DontFragment: true,
		SrcPort:      flowPort(frame),
		Vnet:         vn.id,
	}
	start := d.Addr - wire.EncapLen
	wire.PutVUDP(p.umem.Bytes(start, wire.EncapLen), &o, len(frame))
	st := &vn.stats[p.worker]
	st.txFrames.inc()
	st.txBytes.add(uint64(len(frame)))
	w.Transmit(port, pmd.Desc{Addr: start, Len: d.Len + wire.EncapLen})
}

// seenLocal records that mac sent a frame into vn's device, so that VARP
// requests for it are answered.
func (p *pipeline) seenLocal(vn *vnet, mac wire.MAC) {
	k := makeKey(vn.index, mac)
	if _, s := p.eng.vifs.lookup(k); s != nil {
		touch(s, p.now)
		return
	}
	if p.eng.vifs.set(k, makeValue([4]byte{}, 0, 0), p.now) == tableFull {
		vn.stats[p.worker].drops[dropTableFull].inc()
	}
}

// resolve requests that the control goroutine find the next hop's MAC address
// for dst, at most once a second per address.
func (p *pipeline) resolve(dst [4]byte) {
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
	}
}

func (p *pipeline) nextID() uint16 {
	p.ipID++
	return p.ipID
}

// flowPort returns a UDP source port from the dynamic range (49152 to
// 65535) that depends on the inner flow: the Ethernet addresses and, for
// IPv4, the addresses, protocol and ports. Frames of one flow keep one
// port, so ECMP and receive-side scaling keep them on one path and queue.
// Receivers do not check the source port.
func flowPort(frame []byte) uint16 {
	h := uint32(2166136261)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint32(c)
			h *= 16777619
		}
	}
	mix(frame[0:12])
	if binary.BigEndian.Uint16(frame[12:14]) == wire.EtherTypeIPv4 && len(frame) >= wire.EthHeaderLen+wire.IPv4HeaderLen {
		ip := frame[wire.EthHeaderLen:]
		mix(ip[9:10])
		mix(ip[12:20])
		ihl := int(ip[0]&0x0f) * 4
		if ip[6]&0x3f == 0 && ip[7] == 0 && len(ip) >= ihl+4 && (ip[9] == wire.ProtoTCP || ip[9] == wire.ProtoUDP) {
			mix(ip[ihl : ihl+4])
		}
	}
	return uint16(49152 + h%16384)
}
