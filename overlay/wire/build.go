package wire

import "encoding/binary"

// Outer holds the fields of the outer header stack that the Put functions
// write. Fields that the original always sets the same way are not here:
// TOS is 0, the IPv4 header has no options, the UDP destination port is Port
// and the UDP checksum is 0.
type Outer struct {
	EthDst, EthSrc MAC
	Src, Dst       [4]byte
	// TTL is written as given, so 0 yields a packet that the first router
	// drops. The original module uses DefaultTTL.
	TTL uint8
	// ID is the IPv4 identification.
	ID           uint16
	DontFragment bool
	// SrcPort is the UDP source port. The original sends from Port, and
	// receivers do not check it, so it can carry flow entropy.
	SrcPort uint16
	Vnet    VnetID
}

// PutVUDP writes the 64 header bytes of a VUDP packet into b[:64], in front
// of an inner frame of innerLen bytes that the caller places at b[64:]. The
// headers are the outer Ethernet, IPv4 with its checksum, UDP with checksum
// 0 as the original kernel module sends it, the message header with id 2
// and opcode 0, and the EtherIP header "00 40" with o.Vnet. PutVUDP panics
// if len(b) < 64 or innerLen is outside 0 to MaxInnerLen.
func PutVUDP(b []byte, o *Outer, innerLen int) {
	_ = b[EncapLen-1]
	if innerLen < 0 || innerLen > MaxInnerLen {
		panic("wire: PutVUDP inner frame length out of range")
	}
	const (
		ipOff   = EthHeaderLen
		udpOff  = ipOff + IPv4HeaderLen
		msgOff  = udpOff + UDPHeaderLen
		etipOff = msgOff + MsgHeaderLen
	)
	udpLen := UDPHeaderLen + MsgHeaderLen + EtherIPHeaderLen + innerLen

	putEthernetHeader(b, o.EthDst, o.EthSrc, EtherTypeIPv4)
	putIPv4Header(b[ipOff:udpOff], o, ProtoUDP, IPv4HeaderLen+udpLen)
	putUDPHeader(b[udpOff:msgOff], o.SrcPort, Port, udpLen)
	PutMsgHeader(b[msgOff:etipOff], MsgVUDP, 0)
	PutEtherIP(b[etipOff:EncapLen], o.Vnet)
}

// PutVarpPacket writes a whole VARP frame into b[:85] and returns its
// length, VarpPacketLen: Ethernet, IPv4, UDP with checksum 0, and the
// 43-byte message with o.Vnet, mac and the IPv4 address addr. It panics if
// len(b) < 85.
func PutVarpPacket(b []byte, o *Outer, opcode uint16, mac MAC, addr [4]byte) int {
	_ = b[VarpPacketLen-1]
	const (
		ipOff   = EthHeaderLen
		udpOff  = ipOff + IPv4HeaderLen
		varpOff = udpOff + UDPHeaderLen
	)
	putEthernetHeader(b, o.EthDst, o.EthSrc, EtherTypeIPv4)
	putIPv4Header(b[ipOff:udpOff], o, ProtoUDP, IPv4HeaderLen+UDPHeaderLen+VarpLen)
	putUDPHeader(b[udpOff:varpOff], o.SrcPort, Port, UDPHeaderLen+VarpLen)
	PutVarp(b[varpOff:VarpPacketLen], opcode, o.Vnet, mac, addr)
	return VarpPacketLen
}

// PutForwardHeader writes the IPv4, UDP and message header (id 3, opcode 0)
// of a VFWD packet into b[:32], in front of an inner IPv4 packet of innerLen
// bytes that the caller has already placed at b[32:]. It returns
// ForwardHeaderLen (32). It writes no Ethernet header, so o.EthDst and
// o.EthSrc are unused (see PutForwardFrame). It panics if len(b) < 32 or
// innerLen is outside 0 to 0xffff-32.
func PutForwardHeader(b []byte, o *Outer, innerLen int) int {
	_ = b[ForwardHeaderLen-1]
	if innerLen < 0 || innerLen > 0xffff-ForwardHeaderLen {
		panic("wire: PutForwardHeader inner packet length out of range")
	}
	const (
		udpOff = IPv4HeaderLen
		msgOff = udpOff + UDPHeaderLen
	)
	udpLen := UDPHeaderLen + MsgHeaderLen + innerLen

	putIPv4Header(b[:udpOff], o, ProtoUDP, IPv4HeaderLen+udpLen)
	putUDPHeader(b[udpOff:msgOff], o.SrcPort, Port, udpLen)
	PutMsgHeader(b[msgOff:ForwardHeaderLen], MsgVFWD, 0)
	return ForwardHeaderLen
}

// PutForwardFrame writes an Ethernet header and the VFWD headers of
// PutForwardHeader into b[:46], in front of an inner IPv4 packet of innerLen
// bytes at b[46:]. It returns ForwardEncapLen (46). It panics if
// len(b) < 46 or innerLen is outside 0 to 0xffff-32.
func PutForwardFrame(b []byte, o *Outer, innerLen int) int {
	_ = b[ForwardEncapLen-1]
	putEthernetHeader(b, o.EthDst, o.EthSrc, EtherTypeIPv4)
	return EthHeaderLen + PutForwardHeader(b[EthHeaderLen:ForwardEncapLen], o, innerLen)
}

func putEthernetHeader(b []byte, dst, src MAC, etherType uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
}

// putIPv4Header writes a 20-byte IPv4 header with TOS 0, no options, the
// fields of o and the header checksum into b[:20].
func putIPv4Header(b []byte, o *Outer, proto uint8, totalLen int) {
	var flags uint16
	if o.DontFragment {
		flags = ipv4FlagDF
	}
	b[0] = 4<<4 | IPv4HeaderLen/4
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:4], uint16(totalLen))
	binary.BigEndian.PutUint16(b[4:6], o.ID)
	binary.BigEndian.PutUint16(b[6:8], flags)
	b[8] = o.TTL
	b[9] = proto
	copy(b[12:16], o.Src[:])
	copy(b[16:20], o.Dst[:])
	binary.BigEndian.PutUint16(b[10:12], IPv4HeaderChecksum(b[:IPv4HeaderLen]))
}
