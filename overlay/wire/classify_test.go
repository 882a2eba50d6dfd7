package wire

import (
	"encoding/binary"
	"testing"
)

// Offsets in an untagged frame with a 20-byte outer IPv4 header.
const (
	offIP    = EthHeaderLen
	offUDP   = offIP + IPv4HeaderLen
	offMsg   = offUDP + UDPHeaderLen
	offInner = offMsg + MsgHeaderLen
)

// vudpFrame builds a VUDP frame carrying innerARP to dst.
func vudpFrame(dst [4]byte) []byte {
	o := Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: dst, TTL: DefaultTTL, ID: 7, SrcPort: Port, Vnet: vnet1500}
	b := make([]byte, EncapLen+len(innerARP))
	PutVUDP(b, &o, len(innerARP))
	copy(b[EncapLen:], innerARP)
	return b
}

// udpFrame builds an IPv4 UDP frame to port dstPort with the given payload.
func udpFrame(dstPort uint16, payload []byte) []byte {
	b := make([]byte, offMsg+len(payload))
	o := Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: DefaultTTL, SrcPort: 5000}
	putEthernetHeader(b, o.EthDst, o.EthSrc, EtherTypeIPv4)
	putIPv4Header(b[offIP:offUDP], &o, ProtoUDP, IPv4HeaderLen+UDPHeaderLen+len(payload))
	putUDPHeader(b[offUDP:offMsg], o.SrcPort, dstPort, UDPHeaderLen+len(payload))
	copy(b[offMsg:], payload)
	return b
}

// ipFrame builds an IPv4 frame with the given protocol and payload.
func ipFrame(proto uint8, payload []byte) []byte {
	b := make([]byte, offUDP+len(payload))
	o := Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: DefaultTTL}
	putEthernetHeader(b, o.EthDst, o.EthSrc, EtherTypeIPv4)
	putIPv4Header(b[offIP:offUDP], &o, proto, IPv4HeaderLen+len(payload))
	copy(b[offUDP:], payload)
	return b
}

// withIPv4 applies change to the outer IPv4 header and recomputes its
// checksum.
func withIPv4(b []byte, change func(h []byte)) []byte {
	b = clone(b)
	change(b[offIP:offUDP])
	binary.BigEndian.PutUint16(b[offIP+10:], IPv4HeaderChecksum(b[offIP:offUDP]))
	return b
}

// tagged inserts VLAN tags with the given TPIDs after the MAC addresses.
func tagged(b []byte, tpids ...uint16) []byte {
	out := clone(b[:12])
	for _, tpid := range tpids {
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = append(out, 0, 100)
	}
	return append(out, b[12:]...)
}

func varpPayload(opcode uint16, family byte) []byte {
	b := make([]byte, VarpLen)
	PutVarp(b, opcode, vnet1500, guestMAC, host2)
	b[26] = family
	return b
}

func forwardPayload(innerID uint16) []byte {
	b := mustHex("0003 0000")
	b = append(b, mustHex("0000 0000 0000 0000 0011 0000 c6120005 e00a0001 0706 0706 0000 0000")...)
	b = binary.BigEndian.AppendUint16(b, innerID)
	b = append(b, 0, 0)
	return append(b, etherIPMessage("0040")...)
}

func TestClassify(t *testing.T) {
	unicast := vudpFrame(host2)
	tests := []struct {
		name       string
		frame      []byte
		wantClass  Class
		wantReason Reason
	}{
		{"VUDP unicast", unicast, ClassDataUnicast, ReasonNone},
		{"VUDP to the default group", vudpFrame(group), ClassDataGroup, ReasonNone},
		{"VUDP to another group", vudpFrame([4]byte{239, 1, 2, 3}), ClassDataGroup, ReasonNone},
		{"VUDP to limited broadcast", vudpFrame([4]byte{255, 255, 255, 255}), ClassDataGroup, ReasonNone},
		{"VUDP with Ethernet padding", append(clone(unicast), make([]byte, 20)...), ClassDataUnicast, ReasonNone},
		{"VUDP from another source port", func() []byte {
			b := clone(unicast)
			binary.BigEndian.PutUint16(b[offUDP:], 40000)
			return b
		}(), ClassDataUnicast, ReasonNone},
		{"VUDP behind 802.1Q tag", tagged(unicast, EtherTypeVLAN), ClassDataUnicast, ReasonNone},
		{"VUDP behind QinQ tags", tagged(unicast, EtherTypeQinQ, EtherTypeVLAN), ClassDataUnicast, ReasonNone},
		{"VUDP behind three tags", tagged(unicast, EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN), ClassOther, ReasonNone},
		{"VUDP EtherIP 40 00", func() []byte {
			b := clone(unicast)
			b[offInner], b[offInner+1] = 0x40, 0x00
			return b
		}(), ClassMalformed, ReasonEtherIPVersion},
		{"VUDP without inner frame", udpFrame(Port, append(mustHex("0002 0000"), etherIPMessage("0040")[:18]...)), ClassMalformed, ReasonShort},
		{"VUDP cut inside inner header", udpFrame(Port, append(mustHex("0002 0000"), etherIPMessage("0040")[:31]...)), ClassMalformed, ReasonShort},
		{"VUDP with a 14-byte inner frame", udpFrame(Port, append(mustHex("0002 0000"), etherIPMessage("0040")[:32]...)), ClassDataUnicast, ReasonNone},

		{"VARP request", udpFrame(Port, varpPayload(VarpRequest, VarpFamilyIPv4)), ClassVarpRequest, ReasonNone},
		{"VARP request with IPv6 family", udpFrame(Port, varpPayload(VarpRequest, VarpFamilyIPv6)), ClassVarpRequest, ReasonNone},
		{"VARP announce", udpFrame(Port, varpPayload(VarpAnnounce, VarpFamilyIPv4)), ClassVarpAnnounce, ReasonNone},
		{"VARP announce with IPv6 family", udpFrame(Port, varpPayload(VarpAnnounce, VarpFamilyIPv6)), ClassMalformed, ReasonVarp},
		{"VARP opcode 3", udpFrame(Port, varpPayload(3, VarpFamilyIPv4)), ClassMalformed, ReasonVarp},
		{"VARP opcode 0", udpFrame(Port, varpPayload(0, VarpFamilyIPv4)), ClassMalformed, ReasonVarp},
		{"VARP 42 bytes", udpFrame(Port, varpPayload(VarpRequest, VarpFamilyIPv4)[:42]), ClassMalformed, ReasonVarp},
		{"VARP with trailing bytes", udpFrame(Port, append(varpPayload(VarpAnnounce, VarpFamilyIPv4), 1, 2)), ClassVarpAnnounce, ReasonNone},

		{"VFWD of VARP", udpFrame(Port, forwardPayload(MsgVARP)), ClassForward, ReasonNone},
		{"VFWD of VUDP", udpFrame(Port, forwardPayload(MsgVUDP)), ClassForward, ReasonNone},
		{"VFWD of VFWD", udpFrame(Port, forwardPayload(MsgVFWD)), ClassMalformed, ReasonForward},
		{"VFWD of message id 9", udpFrame(Port, forwardPayload(9)), ClassMalformed, ReasonForward},
		{"VFWD without inner message header", udpFrame(Port, forwardPayload(MsgVARP)[:4+28]), ClassMalformed, ReasonForward},
		{"VFWD empty", udpFrame(Port, mustHex("0003 0000")), ClassMalformed, ReasonForward},

		{"message id 0", udpFrame(Port, mustHex("0000 0000 0000")), ClassMalformed, ReasonMsgID},
		{"message id 200 of the legacy vnetd", udpFrame(Port, mustHex("00c8 0000 0000")), ClassMalformed, ReasonMsgID},
		{"UDP payload of 3 bytes", udpFrame(Port, mustHex("0001 00")), ClassMalformed, ReasonShort},
		{"UDP payload empty", udpFrame(Port, nil), ClassMalformed, ReasonShort},
		{"UDP length beyond IPv4 payload", func() []byte {
			b := clone(unicast)
			binary.BigEndian.PutUint16(b[offUDP+4:], uint16(len(b)-offUDP+1))
			return b
		}(), ClassMalformed, ReasonUDP},
		{"UDP length 7", func() []byte {
			b := clone(unicast)
			binary.BigEndian.PutUint16(b[offUDP+4:], 7)
			return b
		}(), ClassMalformed, ReasonUDP},
		{"UDP header cut", ipFrame(ProtoUDP, mustHex("0706 0706 0008")), ClassMalformed, ReasonShort},
		{"UDP to another port", udpFrame(53, mustHex("0002 0000")), ClassOther, ReasonNone},
		{"UDP to another port, bad length", func() []byte {
			b := udpFrame(4789, make([]byte, 16))
			binary.BigEndian.PutUint16(b[offUDP+4:], 3)
			return b
		}(), ClassOther, ReasonNone},

		{"raw EtherIP", ipFrame(ProtoEtherIP, etherIPMessage("0040")), ClassEtherIP, ReasonNone},
		{"raw EtherIP 0f 4f", ipFrame(ProtoEtherIP, etherIPMessage("0f4f")), ClassEtherIP, ReasonNone},
		{"raw EtherIP version 3", ipFrame(ProtoEtherIP, etherIPMessage("0030")), ClassMalformed, ReasonEtherIPVersion},
		{"raw EtherIP cut", ipFrame(ProtoEtherIP, etherIPMessage("0040")[:20]), ClassMalformed, ReasonShort},
		{"raw EtherIP fragment", withIPv4(ipFrame(ProtoEtherIP, etherIPMessage("0040")), func(h []byte) { h[6] = 0x20 }), ClassMalformed, ReasonFragment},

		{"first fragment to Port", withIPv4(unicast, func(h []byte) { h[6] = 0x20 }), ClassMalformed, ReasonFragment},
		{"non-first fragment", withIPv4(unicast, func(h []byte) { h[6], h[7] = 0x00, 0xb9 }), ClassMalformed, ReasonFragment},
		{"first fragment to another port", withIPv4(udpFrame(53, make([]byte, 30)), func(h []byte) { h[6] = 0x20 }), ClassOther, ReasonNone},
		{"DF is not a fragment", withIPv4(unicast, func(h []byte) { h[6] = 0x40 }), ClassDataUnicast, ReasonNone},

		{"IPv4 checksum wrong", func() []byte {
			b := clone(unicast)
			b[offIP+10] ^= 0xff
			return b
		}(), ClassMalformed, ReasonIPv4},
		{"IPv4 version 5", withIPv4(unicast, func(h []byte) { h[0] = 0x55 }), ClassMalformed, ReasonIPv4},
		{"IPv4 IHL 4", withIPv4(unicast, func(h []byte) { h[0] = 0x44 }), ClassMalformed, ReasonIPv4},
		{"IPv4 total length below header", withIPv4(unicast, func(h []byte) { h[2], h[3] = 0, 10 }), ClassMalformed, ReasonIPv4},
		{"IPv4 total length beyond frame", withIPv4(unicast, func(h []byte) { h[2], h[3] = 0x05, 0xdc }), ClassMalformed, ReasonShort},
		{"IPv4 header cut", unicast[:offIP+19], ClassMalformed, ReasonShort},
		{"IPv4 with options", func() []byte {
			// Rebuild with a 4-byte option (router alert): IHL 6.
			b := clone(unicast[:offUDP])
			b = append(b, 0x94, 0x04, 0, 0)
			b = append(b, unicast[offUDP:]...)
			b[offIP] = 0x46
			binary.BigEndian.PutUint16(b[offIP+2:], uint16(len(b)-offIP))
			binary.BigEndian.PutUint16(b[offIP+10:], 0)
			binary.BigEndian.PutUint16(b[offIP+10:], IPv4HeaderChecksum(b[offIP:offIP+24]))
			return b
		}(), ClassDataUnicast, ReasonNone},

		{"ESP", ipFrame(ProtoESP, make([]byte, 40)), ClassOther, ReasonNone},
		{"TCP", ipFrame(ProtoTCP, make([]byte, 40)), ClassOther, ReasonNone},
		{"ICMP", ipFrame(ProtoICMP, make([]byte, 8)), ClassOther, ReasonNone},
		{"ARP", append(mustHex("ffffffffffff 020000000001 0806"), make([]byte, 28)...), ClassOther, ReasonNone},
		{"IPv6", append(mustHex("333300000001 020000000001 86dd"), make([]byte, 40)...), ClassOther, ReasonNone},
		{"Ethernet header only", mustHex("ffffffffffff 020000000001 0800"), ClassMalformed, ReasonShort},
		{"runt frame", mustHex("ffffffffffff 0200"), ClassMalformed, ReasonShort},
		{"empty frame", nil, ClassMalformed, ReasonShort},
		{"VLAN tag cut", mustHex("ffffffffffff 020000000001 8100 00"), ClassMalformed, ReasonShort},
	}
	for _, tt := range tests {
		c, r := Classify(tt.frame)
		if c != tt.wantClass || r != tt.wantReason {
			t.Errorf("%s: Classify(%x) = %v, %v, want %v, %v", tt.name, tt.frame, c, r, tt.wantClass, tt.wantReason)
		}
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{ClassOther, "other"},
		{ClassDataGroup, "data_group"},
		{ClassDataUnicast, "data_unicast"},
		{ClassVarpRequest, "varp_request"},
		{ClassVarpAnnounce, "varp_announce"},
		{ClassForward, "forward"},
		{ClassEtherIP, "etherip"},
		{ClassMalformed, "malformed"},
		{Class(200), "class_unknown"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", uint8(tt.c), got, tt.want)
		}
	}
}

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{ReasonNone, "none"},
		{ReasonShort, "short"},
		{ReasonIPv4, "ipv4"},
		{ReasonUDP, "udp"},
		{ReasonMsgID, "msg_id"},
		{ReasonEtherIPVersion, "etherip_version"},
		{ReasonVarp, "varp"},
		{ReasonForward, "forward"},
		{ReasonFragment, "fragment"},
		{Reason(200), "reason_unknown"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Reason(%d).String() = %q, want %q", uint8(tt.r), got, tt.want)
		}
	}
}
