package xdpprog

import (
	"encoding/binary"
)

// Frame builders for the tests. Checksums are left zero: the program reads
// none of them.

const (
	vnetPort    = 1798
	ethTypeARP  = 0x0806
	ethTypeVLAN = 0x8100
	ethTypeIPv6 = 0x86dd
	ipProtoIGMP = 2
	ipProtoTCP  = 6
	ipProtoICMP = 1
	ipv4FlagDF  = 0x4000
	ipv4FlagMF  = 0x2000
)

var (
	testDstMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	testSrcMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

func ethernet(ethType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b[0:6], testDstMAC[:])
	copy(b[6:12], testSrcMAC[:])
	binary.BigEndian.PutUint16(b[12:], ethType)
	return append(b, payload...)
}

// vlanTagged returns an 802.1Q frame with VLAN id 5 around an inner
// Ethernet type and payload.
func vlanTagged(ethType uint16, payload []byte) []byte {
	tag := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint16(tag[0:], 5)
	binary.BigEndian.PutUint16(tag[2:], ethType)
	return ethernet(ethTypeVLAN, append(tag, payload...))
}

// ipv4Packet returns an IPv4 packet from 198.18.0.2 to 198.18.0.1 with the
// given protocol, flags/fragment-offset field and options. len(options)
// must be a multiple of 4, at most 40.
func ipv4Packet(proto byte, fragField uint16, options, payload []byte) []byte {
	hlen := 20 + len(options)
	b := make([]byte, hlen, hlen+len(payload))
	b[0] = 0x40 | byte(hlen/4)
	binary.BigEndian.PutUint16(b[2:], uint16(hlen+len(payload)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	binary.BigEndian.PutUint16(b[6:], fragField)
	b[8] = 64
	b[9] = proto
	copy(b[12:16], []byte{198, 18, 0, 2})
	copy(b[16:20], []byte{198, 18, 0, 1})
	copy(b[20:], options)
	return append(b, payload...)
}

func udpDatagram(srcPort, dstPort uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], srcPort)
	binary.BigEndian.PutUint16(b[2:], dstPort)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// vudpPayload is the start of a VUDP message: VnetMsgHdr id 2, opcode 0,
// then the EtherIP version word 00 40 and a vnet id.
func vudpPayload() []byte {
	b := []byte{0, 2, 0, 0, 0x00, 0x40}
	id := make([]byte, 16)
	id[15] = 7
	return append(b, id...)
}

func udpFrame(srcPort, dstPort uint16, options []byte) []byte {
	return ethernet(ethTypeIPv4, ipv4Packet(ipProtoUDP, 0, options, udpDatagram(srcPort, dstPort, vudpPayload())))
}

func arpFrame() []byte {
	// Request: who has 198.18.0.1, tell 198.18.0.2.
	arp := []byte{0, 1, 0x08, 0x00, 6, 4, 0, 1}
	arp = append(arp, testSrcMAC[:]...)
	arp = append(arp, 198, 18, 0, 2)
	arp = append(arp, 0, 0, 0, 0, 0, 0)
	arp = append(arp, 198, 18, 0, 1)
	return ethernet(ethTypeARP, arp)
}

func ipv6UDPFrame() []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], 8+22)
	h[6] = ipProtoUDP
	h[7] = 64
	return ethernet(ethTypeIPv6, append(h, udpDatagram(vnetPort, vnetPort, vudpPayload())...))
}

// options returns n bytes of IPv4 options: NOPs ended by an end-of-list.
func options(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 1
	}
	if n > 0 {
		b[n-1] = 0
	}
	return b
}

// fragTable is the model of the frags map: the datagrams whose first
// fragment was steered.
type fragTable map[[fragKeySize]byte]bool

// fragKeyOf returns the frags map key of a UDP fragment's IPv4 header.
func fragKeyOf(ip []byte) [fragKeySize]byte {
	var k [fragKeySize]byte
	copy(k[0:4], ip[12:16])
	copy(k[4:8], ip[16:20])
	copy(k[8:10], ip[4:6])
	k[10] = ipProtoUDP
	return k
}

// modelDecision is the reference for the program's decision on one frame:
// it returns whether the frame is steered and, if not, the counter index of
// the reason it is passed. frags is the state of the frags map; a first
// fragment that is steered is added to it unless it is nil.
func modelDecision(port Port, frame []byte, frags fragTable) (steered bool, reason int) {
	if port.Kind == KindDevice {
		return true, 0
	}
	if len(frame) < 14 {
		return false, counterTruncated
	}
	if binary.BigEndian.Uint16(frame[12:]) != ethTypeIPv4 {
		return false, counterNotIPv4
	}
	ip := frame[14:]
	if len(ip) < 20 {
		return false, counterTruncated
	}
	if ip[0]>>4 != 4 || ip[0]&0x0f < 5 {
		return false, counterMalformed
	}
	hlen := int(ip[0]&0x0f) * 4
	proto := ip[9]
	fragment := binary.BigEndian.Uint16(ip[6:])&ipv4FragMask != 0

	if fragment {
		if port.Flags&FlagFragments == 0 {
			return false, counterFragment
		}
		switch {
		case proto == ipProtoUDP:
			key := fragKeyOf(ip)
			if binary.BigEndian.Uint16(ip[6:])&ipv4OffsetMask != 0 {
				return frags[key], counterFragment
			}
			if len(ip) < hlen+4 {
				return false, counterTruncated
			}
			if binary.BigEndian.Uint16(ip[hlen+2:]) != port.UDPPort {
				return false, counterFragment
			}
			if frags != nil {
				frags[key] = true
			}
			return true, 0
		case proto == ipProtoEtherIP && port.Flags&FlagEtherIP != 0,
			proto == ipProtoESP && port.Flags&FlagESP != 0:
			return true, 0
		}
		return false, counterFragment
	}

	switch proto {
	case ipProtoUDP:
		if len(ip) < hlen+4 {
			return false, counterTruncated
		}
		if binary.BigEndian.Uint16(ip[hlen+2:]) != port.UDPPort {
			return false, counterNotVnet
		}
		return true, 0
	case ipProtoEtherIP:
		if port.Flags&FlagEtherIP == 0 {
			return false, counterEtherIP
		}
		return true, 0
	case ipProtoESP:
		if port.Flags&FlagESP == 0 {
			return false, counterESP
		}
		return true, 0
	}
	return false, counterNotVnet
}
