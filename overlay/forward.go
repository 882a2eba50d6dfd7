package overlay

import (
	"encoding/binary"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// Peers extend the group across subnets without multicast routing. A
// host with peers sends a unicast copy (VFWD) of every group packet it
// sends or receives on its segment to each peer. A peer delivers the
// copy locally and re-sends it to the group on its own segment, with the
// originator as the source, so that every host learns where the
// originator is. Copies received from a peer are never relayed to other
// peers, and a copy never goes to the peer that originated it. A short
// duplicate cache stops a packet that reaches a host twice, through a
// second forwarder on a segment or a loop among forwarders.

// dupWindow is how long a group packet is remembered for duplicate
// suppression. A host that sends the same packet twice within it, such
// as an identical ARP retry, loses the second copy at a forwarder.
const dupWindow = int64(500 * time.Millisecond)

// dupSlots is the size of the duplicate cache, a direct-mapped table in
// which a packet is overwritten early when another one hashes to its
// slot.
const dupSlots = 1024

type dupCache struct {
	fp [dupSlots]uint64
	at [dupSlots]int64
}

// seen reports whether fp was recorded within dupWindow of now, and
// records it.
func (c *dupCache) seen(fp uint64, now int64) bool {
	i := fp % dupSlots
	if c.fp[i] == fp && now-c.at[i] < dupWindow {
		return true
	}
	c.fp[i] = fp
	c.at[i] = now
	return false
}

// fingerprint identifies a group packet by its originator and the start
// of its UDP payload, which holds the message header and the inner
// frame's headers.
func fingerprint(origin [4]byte, payload []byte) uint64 {
	h := uint64(14695981039346656037)
	mix := func(b byte) {
		h ^= uint64(b)
		h *= 1099511628211
	}
	for _, b := range origin {
		mix(b)
	}
	mix(byte(len(payload) >> 8))
	mix(byte(len(payload)))
	for _, b := range payload[:min(len(payload), 128)] {
		mix(b)
	}
	if h == 0 {
		h = 1
	}
	return h
}

// relayToPeers sends copies of a group packet received on the local
// segment to the peers, except the originator. It returns false when the
// packet is a duplicate, which the caller drops.
func (p *pipeline) relayToPeers(w *pmd.Worker, cfg *config, pkt []byte, origin [4]byte, payload []byte) bool {
	if p.dups.seen(fingerprint(origin, payload), p.nowNano) {
		return false
	}
	p.sendToPeers(w, cfg, pkt, origin)
	return true
}

// sendToPeers sends a VFWD copy of the group packet pkt (Ethernet header
// and IPv4 packet) to every peer but except. A copy larger than the
// underlay MTU is fragmented, as the original did (it sends VFWD with DF
// clear).
func (p *pipeline) sendToPeers(w *pmd.Worker, cfg *config, pkt []byte, except [4]byte) {
	ip := pkt[wire.EthHeaderLen:]
	for _, peer := range cfg.peers {
		if peer.addr == except {
			continue
		}
		nh, ok := cfg.nextHops[peer.addr]
		if !ok {
			p.resolveHop(peer.addr)
			p.stats.drops[dropNoRoute].inc()
			continue
		}
		up := cfg.underlay[nh.port]
		if up.ports[p.worker] < 0 {
			p.stats.drops[dropNoPort].inc()
			continue
		}
		n := wire.ForwardEncapLen + len(ip)
		if n > int(p.umem.MaxFrameLen(0)) {
			p.stats.drops[dropOversize].inc()
			continue
		}
		addr, ok := p.umem.Alloc()
		if !ok {
			p.stats.drops[dropNoMemory].inc()
			continue
		}
		c := pmd.Desc{Addr: addr, Len: uint32(n)}
		b := p.umem.Frame(c)
		copy(b[wire.ForwardEncapLen:], ip)
		o := wire.Outer{EthDst: nh.mac, EthSrc: up.mac, Src: up.addr, Dst: peer.addr, TTL: wire.DefaultTTL, ID: p.nextID(), SrcPort: wire.Port}
		wire.PutForwardFrame(b, &o, len(ip))
		// The peer's port; the original stored it but always sent to 1798.
		binary.BigEndian.PutUint16(b[wire.EthHeaderLen+wire.IPv4HeaderLen+2:], peer.port)
		peer.tx.Add(1)
		p.stats.forwardedOut.inc()
		p.transmitIPv4(w, cfg, up, c)
	}
}

// forwarded handles a VFWD copy: a group packet that a peer relayed by
// unicast. Only configured peers are trusted. The copy is re-sent to the
// group on the local segment and processed locally.
func (p *pipeline) forwarded(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, src [4]byte, off int, msg []byte) {
	if !cfg.isPeer(src) {
		p.drop(w, d, dropNotFromPeer)
		return
	}
	if inner := msg[wire.MsgHeaderLen:]; len(inner) >= wire.IPv4HeaderLen && inner[9] == wire.ProtoESP {
		p.forwardedESP(w, cfg, up, d, ethSrc, src, off+wire.MsgHeaderLen, inner)
		return
	}
	f, ok := wire.ParseForward(msg[wire.MsgHeaderLen:])
	if !ok {
		p.malformed(w, d, wire.ReasonForward)
		return
	}
	p.stats.forwardedIn.inc()
	cfg.countPeerRx(src)
	// The original's own copies may carry source 0: the forwarder is the
	// originator then.
	origin := f.InnerSrc()
	if origin == ([4]byte{}) {
		origin = src
	}
	if !p.firstCopy(w, cfg, d, origin, f.InnerMsg()) {
		return
	}
	if dst := f.InnerDst(); dst[0]&0xf0 == 0xe0 {
		p.resendLocal(w, cfg, origin, wire.ProtoUDP, f.InnerUDP())
	}
	inner := wire.MsgHeaderLen + f.InnerHeaderLen() + wire.UDPHeaderLen
	p.message(w, cfg, up, d, ethSrc, origin, off+inner, msg[inner:], true, nil)
}

// forwardedESP handles a peer's copy of a secure vnet's group packet:
// the originator's ESP packet, whole. The copy is re-sent to the local
// group before it is opened, because opening decrypts it in place.
func (p *pipeline) forwardedESP(w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ethSrc wire.MAC, peer [4]byte, ipOff int, pkt []byte) {
	ip, ok := wire.ParseIPv4(pkt)
	if !ok || ip.IsFragment() {
		p.malformed(w, d, wire.ReasonForward)
		return
	}
	p.stats.forwardedIn.inc()
	cfg.countPeerRx(peer)
	origin := ip.Src()
	if !p.firstCopy(w, cfg, d, origin, ip.Payload()) {
		return
	}
	if dst := ip.Dst(); dst[0]&0xf0 == 0xe0 {
		p.resendLocal(w, cfg, origin, wire.ProtoESP, ip.Payload())
	}
	p.openESP(w, cfg, up, d, ethSrc, ipOff, ip, true)
}

// firstCopy reports whether a peer's copy of a group packet with body
// from origin is new. It drops copies of this host's own packets and
// copies seen within the duplicate window.
func (p *pipeline) firstCopy(w *pmd.Worker, cfg *config, d pmd.Desc, origin [4]byte, body []byte) bool {
	if cfg.isLocal(origin) {
		p.drop(w, d, dropOwnTraffic)
		return false
	}
	if p.dups.seen(fingerprint(origin, body), p.nowNano) {
		p.drop(w, d, dropDuplicate)
		return false
	}
	return true
}

// resendLocal sends a relayed group packet to the group on every
// underlay port, with the originator as the IPv4 source so that legacy
// hosts learn the right address. The IPv4 header is rebuilt, because a
// forwarder of the original may have sent a synthesised one. A UDP
// checksum is cleared, because the pseudo-header changed; ESP does not
// cover the IPv4 header and goes unchanged.
func (p *pipeline) resendLocal(w *pmd.Worker, cfg *config, origin [4]byte, proto uint8, payload []byte) {
	n := wire.EthHeaderLen + wire.IPv4HeaderLen + len(payload)
	if (proto == wire.ProtoUDP && len(payload) < wire.UDPHeaderLen) || n > int(p.umem.MaxFrameLen(0)) {
		p.stats.drops[dropOversize].inc()
		return
	}
	for _, up := range cfg.underlay {
		if up.ports[p.worker] < 0 {
			continue
		}
		addr, ok := p.umem.Alloc()
		if !ok {
			p.stats.drops[dropNoMemory].inc()
			return
		}
		c := pmd.Desc{Addr: addr, Len: uint32(n)}
		b := p.umem.Frame(c)
		eth := wire.Ethernet(b)
		eth.SetDst(cfg.groupMAC)
		eth.SetSrc(up.mac)
		eth.SetEtherType(wire.EtherTypeIPv4)
		putIPv4(b[wire.EthHeaderLen:], origin, cfg.group, proto, cfg.groupTTL, p.nextID(), len(payload))
		u := b[wire.EthHeaderLen+wire.IPv4HeaderLen:]
		copy(u, payload)
		if proto == wire.ProtoUDP {
			u[6], u[7] = 0, 0
		}
		p.stats.resent.inc()
		p.transmitIPv4(w, cfg, up, c)
	}
}

// putIPv4 writes a 20-byte IPv4 header with DF clear and its checksum.
func putIPv4(b []byte, src, dst [4]byte, proto, ttl uint8, id uint16, payloadLen int) {
	b[0] = 0x45
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:], uint16(wire.IPv4HeaderLen+payloadLen))
	binary.BigEndian.PutUint16(b[4:], id)
	b[6], b[7] = 0, 0
	b[8] = ttl
	b[9] = proto
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	wire.IPv4(b[:wire.IPv4HeaderLen]).UpdateChecksum()
}

// transmitIPv4 sends the IPv4 packet in frame c (Ethernet header, IPv4
// header without options, payload) out of up, split into fragments when
// it exceeds the port's MTU. The packet's DF bit must be clear.
func (p *pipeline) transmitIPv4(w *pmd.Worker, cfg *config, up *underlayPort, c pmd.Desc) {
	total := int(c.Len) - wire.EthHeaderLen
	if total <= up.mtu {
		p.toUnderlay(w, cfg, up, c)
		return
	}
	b := p.umem.Frame(c)
	hdr := b[:wire.EthHeaderLen+wire.IPv4HeaderLen]
	payload := b[len(hdr):]
	chunk := (up.mtu - wire.IPv4HeaderLen) &^ 7
	for off := chunk; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		addr, ok := p.umem.Alloc()
		if !ok {
			p.stats.drops[dropNoMemory].inc()
			w.Release(c)
			return
		}
		f := pmd.Desc{Addr: addr, Len: uint32(len(hdr) + end - off)}
		fb := p.umem.Frame(f)
		copy(fb, hdr)
		copy(fb[len(hdr):], payload[off:end])
		setFragment(fb[wire.EthHeaderLen:], off, end < len(payload), end-off)
		p.toUnderlay(w, cfg, up, f)
	}
	setFragment(b[wire.EthHeaderLen:], 0, true, chunk)
	c.Len = uint32(len(hdr) + chunk)
	p.stats.fragmentsOut.inc()
	p.toUnderlay(w, cfg, up, c)
}

// setFragment sets the offset, the more-fragments flag and the length of
// a fragment's IPv4 header, and its checksum.
func setFragment(ip []byte, off int, more bool, payloadLen int) {
	v := uint16(off / 8)
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:], v|binary.BigEndian.Uint16(ip[6:])&0x4000)
	binary.BigEndian.PutUint16(ip[2:], uint16(wire.IPv4HeaderLen+payloadLen))
	wire.IPv4(ip[:wire.IPv4HeaderLen]).UpdateChecksum()
}
