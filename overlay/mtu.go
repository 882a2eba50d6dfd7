package overlay

import (
	"encoding/binary"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// tooBig handles a frame from a vnet device whose IP packet is larger
// than mtu, the largest inner IP packet the path carries. An IPv4 packet
// with DF set, and any IPv6 packet, gets an ICMP "too big" message back
// to its sender with the MTU, so that path MTU discovery adapts. An IPv4
// packet without DF is fragmented. Other frames are dropped and counted.
// The ICMP message is sent from the packet's destination address, as
// the Linux kernel does for bridged tunnels, since the dataplane has no
// address of its own on the vnet.
func (p *pipeline) tooBig(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc, mtu int) {
	frame := p.umem.Frame(d)
	etherType, l3, ok := wire.Ethernet(frame).L3()
	if !ok {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	switch etherType {
	case wire.EtherTypeIPv4:
		ip, ok := wire.ParseIPv4(frame[l3:])
		if !ok || ip.IsFragment() && ip.DontFragment() {
			p.vnetDrop(w, vn, d, dropOversize)
			return
		}
		if ip.DontFragment() {
			p.icmp4TooBig(w, vn, d, l3, mtu)
			return
		}
		p.fragmentInner(w, cfg, vn, d, l3, mtu)
	case wire.EtherTypeIPv6:
		p.icmp6TooBig(w, vn, d, l3, mtu)
	default:
		p.vnetDrop(w, vn, d, dropOversize)
	}
}

// replyFrame allocates a frame for an ICMP reply to the sender of frame:
// Ethernet addresses swapped and VLAN tags kept. It returns the frame
// and the offset of its L3 header.
func (p *pipeline) replyFrame(frame []byte, l3 int) (pmd.Desc, []byte, bool) {
	addr, ok := p.umem.Alloc()
	if !ok {
		return pmd.Desc{}, nil, false
	}
	c := pmd.Desc{Addr: addr, Len: uint32(p.umem.MaxFrameLen(0))}
	b := p.umem.Frame(c)
	copy(b[0:6], frame[6:12])
	copy(b[6:12], frame[0:6])
	copy(b[12:l3], frame[12:l3])
	return c, b, true
}

// icmp4TooBig replies with ICMP destination unreachable, fragmentation
// needed (type 3, code 4, RFC 1191), carrying the MTU and the start of
// the packet.
func (p *pipeline) icmp4TooBig(w *pmd.Worker, vn *vnet, d pmd.Desc, l3, mtu int) {
	frame := p.umem.Frame(d)
	ip := wire.IPv4(frame[l3:])
	quoted := min(ip.HeaderLen()+8, ip.TotalLen())
	c, b, ok := p.replyFrame(frame, l3)
	if !ok {
		p.vnetDrop(w, vn, d, dropNoMemory)
		return
	}
	icmpLen := 8 + quoted
	putIPv4(b[l3:], ip.Dst(), ip.Src(), wire.ProtoICMP, wire.DefaultTTL, p.nextID(), icmpLen)
	icmp := b[l3+wire.IPv4HeaderLen : l3+wire.IPv4HeaderLen+icmpLen]
	icmp[0], icmp[1] = 3, 4
	icmp[2], icmp[3] = 0, 0
	icmp[4], icmp[5] = 0, 0
	binary.BigEndian.PutUint16(icmp[6:], uint16(mtu))
	copy(icmp[8:], ip[:quoted])
	binary.BigEndian.PutUint16(icmp[2:], ^wire.Fold(wire.Checksum(icmp, 0)))
	c.Len = uint32(l3 + wire.IPv4HeaderLen + icmpLen)
	p.sendTooBig(w, vn, d, c)
}

// icmp6TooBig replies with ICMPv6 packet too big (type 2, RFC 4443),
// carrying the MTU and as much of the packet as fits in the IPv6
// minimum MTU of 1280 bytes.
func (p *pipeline) icmp6TooBig(w *pmd.Worker, vn *vnet, d pmd.Desc, l3, mtu int) {
	frame := p.umem.Frame(d)
	if len(frame) < l3+40 {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	orig := frame[l3:]
	quoted := min(len(orig), 1280-40-8)
	c, b, ok := p.replyFrame(frame, l3)
	if !ok {
		p.vnetDrop(w, vn, d, dropNoMemory)
		return
	}
	icmpLen := 8 + quoted
	ip := b[l3 : l3+40]
	ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
	binary.BigEndian.PutUint16(ip[4:], uint16(icmpLen))
	ip[6] = wire.ProtoICMPv6
	ip[7] = 255
	copy(ip[8:24], orig[24:40])
	copy(ip[24:40], orig[8:24])
	icmp := b[l3+40 : l3+40+icmpLen]
	icmp[0], icmp[1], icmp[2], icmp[3] = 2, 0, 0, 0
	binary.BigEndian.PutUint32(icmp[4:], uint32(mtu))
	copy(icmp[8:], orig[:quoted])
	sum := wire.Checksum(ip[8:40], 0)
	sum = wire.Checksum([]byte{0, 0, byte(icmpLen >> 8), byte(icmpLen), 0, 0, 0, wire.ProtoICMPv6}, sum)
	sum = wire.Checksum(icmp, sum)
	binary.BigEndian.PutUint16(icmp[2:], ^wire.Fold(sum))
	c.Len = uint32(l3 + 40 + icmpLen)
	p.sendTooBig(w, vn, d, c)
}

func (p *pipeline) sendTooBig(w *pmd.Worker, vn *vnet, d pmd.Desc, reply pmd.Desc) {
	st := &vn.stats[p.worker]
	st.drops[dropOversize].inc()
	st.tooBig.inc()
	w.Release(d)
	p.toDevice(w, p.eng.cfg.Load(), vn, reply)
}

// fragmentInner splits an IPv4 packet without DF into fragments of at
// most mtu bytes and sends each on like a frame from the device.
func (p *pipeline) fragmentInner(w *pmd.Worker, cfg *config, vn *vnet, d pmd.Desc, l3, mtu int) {
	frame := p.umem.Frame(d)
	ip := wire.IPv4(frame[l3:])
	hl := ip.HeaderLen()
	payload := ip.Payload()
	chunk := (mtu - hl) &^ 7
	if chunk <= 0 {
		p.vnetDrop(w, vn, d, dropOversize)
		return
	}
	baseOff := ip.FragmentOffset()
	baseMore := ip.MoreFragments()
	hdr := frame[:l3+hl]
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		addr, ok := p.umem.Alloc()
		if !ok {
			p.vnetDrop(w, vn, d, dropNoMemory)
			return
		}
		f := pmd.Desc{Addr: addr, Len: uint32(len(hdr) + end - off)}
		fb := p.umem.Frame(f)
		copy(fb, hdr)
		copy(fb[len(hdr):], payload[off:end])
		fip := fb[l3:]
		v := uint16((baseOff + off) / 8)
		if end < len(payload) || baseMore {
			v |= 0x2000
		}
		binary.BigEndian.PutUint16(fip[6:], v)
		binary.BigEndian.PutUint16(fip[2:], uint16(hl+end-off))
		fip[10], fip[11] = 0, 0
		binary.BigEndian.PutUint16(fip[10:], ^wire.Fold(wire.Checksum(fip[:hl], 0)))
		vn.stats[p.worker].fragmented.inc()
		p.forwardFrame(w, cfg, vn, f)
	}
	w.Release(d)
}
