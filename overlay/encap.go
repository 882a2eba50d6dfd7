package overlay

import (
	"encoding/binary"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// fromDevice encapsulates a frame that a VM sent into vnet vn's device.
func (p *pipeline) fromDevice(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc) {
	frame := p.umem.Frame(d)
	if len(frame) < wire.EthHeaderLen {
		p.vnetDrop(w, vn, d, dropShortFrame)
		return
	}
	eth := wire.Ethernet(frame)
	if src := eth.Src(); !src.IsMulticast() && !src.IsZero() {
		p.seenLocal(w, cfg, vn, src)
	}
	// A Linux sender with checksum offload leaves only the pseudo-header
	// sum in TCP and UDP checksums; nothing after us would finish them.
	wire.CompleteL4Checksum(frame)
	if len(frame) > vn.maxFrame {
		p.tooBig(w, cfg, vn, d, vn.mtu)
		return
	}
	p.forwardFrame(w, cfg, vn, d)
}

// forwardFrame sends a frame from vn's device to where its destination
// MAC lives: the group for broadcast and multicast, the learned host for
// known unicast, and for unknown unicast the group or the resolution
// queue, as configured.
func (p *pipeline) forwardFrame(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc) {
	dst := wire.Ethernet(p.umem.Frame(d)).Dst()
	if dst.IsMulticast() {
		p.flood(w, cfg, vn, d)
		return
	}
	k := makeKey(vn.index, dst)
	if v, s := vn.varp.lookup(k); s != nil && v.state() == uint8(VarpReachable) {
		p.unicast(w, cfg, vn, d, v.addr())
		return
	}
	if !cfg.resolve {
		p.flood(w, cfg, vn, d)
		return
	}
	p.resolveMiss(w, cfg, vn, d, dst)
}

// unicast sends a frame to the host at addr, or to the group while the
// next hop's Ethernet address is being resolved.
func (p *pipeline) unicast(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc, addr [4]byte) {
	nh, ok := cfg.nextHops[addr]
	if !ok {
		p.resolveHop(addr)
		vn.stats[p.worker].unresolved.inc()
		p.flood(w, cfg, vn, d)
		return
	}
	up := cfg.underlay[nh.port]
	o, ok := p.encapsulate(w, cfg, vn, up, d, nh.mac, addr, wire.DefaultTTL)
	if !ok {
		return
	}
	vn.stats[p.worker].unicast.inc()
	p.toUnderlay(w, cfg, up, o)
}

// flood sends a frame to the group, at most at the vnet's flood rate.
func (p *pipeline) flood(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc) {
	if !vn.limiters[p.worker].flood.allow(p.nowNano, cfg.floodInterval, burst) {
		p.vnetDrop(w, vn, d, dropFloodRate)
		return
	}
	if len(cfg.underlay) == 0 {
		p.vnetDrop(w, vn, d, dropNoRoute)
		return
	}
	if vn.mode != 0 {
		// A sealed packet is bound to the address of the port it leaves
		// from, so every other port gets its own copy of the inner
		// frame, encapsulated and sealed for it.
		for i := 1; i < len(cfg.underlay); i++ {
			up := cfg.underlay[i]
			if up.ports[p.worker] < 0 {
				continue
			}
			c, ok := p.copyFrame(p.umem.Frame(d))
			if !ok {
				vn.stats[p.worker].drops[dropNoMemory].inc()
				continue
			}
			if o, ok := p.encapsulate(w, cfg, vn, up, c, cfg.groupMAC, cfg.group, cfg.groupTTL); ok {
				p.toUnderlay(w, cfg, up, o)
			}
		}
	}
	o, ok := p.encapsulate(w, cfg, vn, cfg.underlay[0], d, cfg.groupMAC, cfg.group, cfg.groupTTL)
	if !ok {
		return
	}
	vn.stats[p.worker].flooded.inc()
	p.toGroup(w, cfg, o, vn.mode == 0)
}

// maxInnerFrame returns the largest inner frame that a VUDP packet of vn,
// sealed in ESP for a secure vnet, carries within the MTU of up.
func maxInnerFrame(vn *vnet, up *underlayPort) int {
	if vn.mode == 0 {
		return up.mtu - (wire.EncapLen - wire.EthHeaderLen)
	}
	const headers = wire.UDPHeaderLen + wire.MsgHeaderLen + wire.EtherIPHeaderLen
	return vn.mode.MaxPayload(up.mtu-wire.IPv4HeaderLen) - headers
}

// encapsulate writes the outer headers in front of the frame d for
// underlay port up, seals the packet in ESP for a secure vnet, and
// returns the outer packet. When the packet cannot be sent it releases
// the frame and returns false. An inner packet too large for the
// underlay goes to tooBig.
func (p *pipeline) encapsulate(w *pmd.Worker, cfg *config, vn *vnet, up *underlayPort, d pmd.Desc, l2 wire.MAC, dst [4]byte, ttl uint8) (pmd.Desc, bool) {
	headroom := uint32(wire.EncapLen)
	if vn.mode != 0 {
		headroom += uint32(vn.mode.HeaderLen())
	}
	if p.umem.Headroom(d.Addr) < headroom {
		p.vnetDrop(w, vn, d, dropHeadroom)
		return pmd.Desc{}, false
	}
	if limit := maxInnerFrame(vn, up); int(d.Len) > limit {
		// The underlay MTU shrank below what the device MTU was sized
		// for.
		p.tooBig(w, cfg, vn, d, limit-wire.EthHeaderLen)
		return pmd.Desc{}, false
	}
	if up.ports[p.worker] < 0 {
		p.vnetDrop(w, vn, d, dropNoPort)
		return pmd.Desc{}, false
	}
	frame := p.umem.Frame(d)
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
	wire.PutVUDP(p.umem.Bytes(d.Addr-wire.EncapLen, wire.EncapLen), &o, len(frame))
	out := pmd.Desc{Addr: d.Addr - wire.EncapLen, Len: d.Len + wire.EncapLen}
	if vn.mode != 0 {
		var ok bool
		if out, ok = p.seal(w, vn, up, out); !ok {
			return pmd.Desc{}, false
		}
	}
	st := &vn.stats[p.worker]
	st.txFrames.inc()
	st.txBytes.add(uint64(len(frame)))
	return out, true
}

// seal protects the plain packet in frame d (Ethernet header, IPv4
// header without options, payload) in ESP with the SA of this worker for
// vn on port up. The Ethernet and IPv4 headers move towards the start of
// the frame to make room for the ESP header, and the trailer and ICV go
// into the tailroom. It returns the sealed packet, or releases the frame
// and returns false.
func (p *pipeline) seal(w *pmd.Worker, vn *vnet, up *underlayPort, d pmd.Desc) (pmd.Desc, bool) {
	h := uint32(vn.mode.HeaderLen())
	const l3 = wire.EthHeaderLen + wire.IPv4HeaderLen
	if p.umem.Headroom(d.Addr) < h || p.umem.Tailroom(d.Addr, d.Len) < esp.MaxTrailerLen {
		p.vnetDrop(w, vn, d, dropHeadroom)
		return pmd.Desc{}, false
	}
	b := p.umem.Bytes(d.Addr-uint64(h), d.Len+h+esp.MaxTrailerLen)
	copy(b[:l3], b[h:h+l3])
	n, err := vn.senders[p.worker][up.index].Seal(b[wire.EthHeaderLen:])
	if err != nil {
		p.vnetDrop(w, vn, d, dropSealFailed)
		return pmd.Desc{}, false
	}
	st := &vn.stats[p.worker]
	st.sealed.inc()
	return pmd.Desc{Addr: d.Addr - uint64(h), Len: uint32(wire.EthHeaderLen + n)}, true
}

// toGroup sends a complete group packet built for the first underlay
// port to the peers and out of that port. With copyToPorts the other
// underlay ports send copies with their own source addresses. A packet
// sealed in ESP cannot be copied that way, because its SA is bound to
// the source address, so its sender seals one for each port instead.
func (p *pipeline) toGroup(w *pmd.Worker, cfg *config, d pmd.Desc, copyToPorts bool) {
	frame := p.umem.Frame(d)
	for i := 1; copyToPorts && i < len(cfg.underlay); i++ {
		up := cfg.underlay[i]
		if up.ports[p.worker] < 0 {
			continue
		}
		c, ok := p.copyFrame(frame)
		if !ok {
			p.stats.drops[dropNoMemory].inc()
			continue
		}
		b := p.umem.Frame(c)
		wire.Ethernet(b).SetSrc(up.mac)
		ip := wire.IPv4(b[wire.EthHeaderLen:])
		ip.SetSrc(up.addr)
		ip.UpdateChecksum()
		p.toUnderlay(w, cfg, up, c)
	}
	if len(cfg.peers) > 0 {
		p.sendToPeers(w, cfg, frame, [4]byte{})
	}
	p.toUnderlay(w, cfg, cfg.underlay[0], d)
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
