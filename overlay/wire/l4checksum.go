package wire

import "encoding/binary"

// l4Segment is the L4 header and payload of a frame, found by locateL4.
type l4Segment struct {
	proto  uint8
	ipv4   bool
	seg    []byte // from the L4 header to the end of the IP payload
	pseudo uint32 // partial sum of the pseudo-header, 0 for ICMP over IPv4
	csum   int    // offset of the checksum field in seg
}

// locateL4 finds the TCP, UDP, ICMP or ICMPv6 segment of an Ethernet frame
// with up to two VLAN tags. It reports false for other protocols, for
// fragments (whose checksum covers bytes that are elsewhere), for IPv6 with
// extension headers or jumbo payloads, and for headers cut short.
func locateL4(frame []byte) (l4Segment, bool) {
	eth, ok := ParseEthernet(frame)
	if !ok {
		return l4Segment{}, false
	}
	etherType, off, ok := eth.L3()
	if !ok {
		return l4Segment{}, false
	}

	var s l4Segment
	var src, dst []byte
	switch etherType {
	case EtherTypeIPv4:
		ip, ok := ParseIPv4(frame[off:])
		if !ok || ip.IsFragment() {
			return l4Segment{}, false
		}
		s.ipv4 = true
		s.proto = ip.Protocol()
		s.seg = ip.Payload()
		src, dst = ip[12:16], ip[16:20]
	case EtherTypeIPv6:
		b := frame[off:]
		if len(b) < IPv6HeaderLen || b[0]>>4 != 6 {
			return l4Segment{}, false
		}
		n := int(binary.BigEndian.Uint16(b[4:6]))
		if n == 0 || IPv6HeaderLen+n > len(b) {
			return l4Segment{}, false
		}
		s.proto = b[6]
		s.seg = b[IPv6HeaderLen : IPv6HeaderLen+n]
		src, dst = b[8:24], b[24:40]
	default:
		return l4Segment{}, false
	}

	minLen := 0
	switch s.proto {
	case ProtoTCP:
		minLen, s.csum = TCPHeaderLen, 16
	case ProtoUDP:
		minLen, s.csum = UDPHeaderLen, 6
		if len(s.seg) >= UDPHeaderLen {
			// The UDP length field bounds the datagram and enters the
			// pseudo-header. Bytes after it are not covered.
			n := int(binary.BigEndian.Uint16(s.seg[4:6]))
			if n < UDPHeaderLen || n > len(s.seg) {
				return l4Segment{}, false
			}
			s.seg = s.seg[:n]
		}
	case ProtoICMP:
		if !s.ipv4 {
			return l4Segment{}, false
		}
		minLen, s.csum = 4, 2
	case ProtoICMPv6:
		if s.ipv4 {
			return l4Segment{}, false
		}
		minLen, s.csum = 4, 2
	default:
		return l4Segment{}, false
	}
	if len(s.seg) < minLen {
		return l4Segment{}, false
	}

	switch {
	case s.ipv4 && s.proto == ProtoICMP:
		s.pseudo = 0 // ICMP over IPv4 has no pseudo-header (RFC 792)
	case s.ipv4:
		s.pseudo = pseudoHeaderSumIPv4(src, dst, s.proto, len(s.seg))
	default:
		s.pseudo = pseudoHeaderSumIPv6(src, dst, s.proto, len(s.seg))
	}
	return s, true
}

// CompleteL4Checksum finishes the TCP or UDP checksum of an Ethernet frame
// (IPv4, or IPv6 without extension headers, behind up to two VLAN tags)
// whose checksum field still holds only the folded pseudo-header sum. That is
// what a Linux sender with checksum offload (CHECKSUM_PARTIAL) leaves in
// frames that AF_XDP receives from a veth or TAP peer. CompleteL4Checksum
// then writes the full checksum and returns true. A complete checksum that
// happens to equal the pseudo-header sum is rewritten with the same value, so
// that false match is harmless.
//
// It returns false and leaves the frame unchanged for other protocols,
// for IPv4 UDP with checksum 0 (no checksum), for IPv4 fragments, first
// fragments included, and for headers cut short.
func CompleteL4Checksum(frame []byte) bool {
	s, ok := locateL4(frame)
	if !ok || (s.proto != ProtoTCP && s.proto != ProtoUDP) {
		return false
	}
	field := binary.BigEndian.Uint16(s.seg[s.csum : s.csum+2])
	if field == 0 && s.proto == ProtoUDP && s.ipv4 {
		return false
	}
	if field != Fold(s.pseudo) {
		return false
	}

	binary.BigEndian.PutUint16(s.seg[s.csum:s.csum+2], 0)
	c := ^Fold(Checksum(s.seg, s.pseudo))
	if c == 0 && s.proto == ProtoUDP {
		c = 0xffff // a computed 0 is sent as all ones (RFC 768)
	}
	binary.BigEndian.PutUint16(s.seg[s.csum:s.csum+2], c)
	return true
}

// L4ChecksumValid reports whether the TCP, UDP, ICMP or ICMPv6 checksum of
// an Ethernet frame verifies. IPv4 UDP with checksum 0 counts as valid, IPv6
// UDP with checksum 0 as invalid (RFC 8200 section 8.1). It returns false
// for other protocols, fragments and frames that locateL4 rejects.
func L4ChecksumValid(frame []byte) bool {
	s, ok := locateL4(frame)
	if !ok {
		return false
	}
	if s.proto == ProtoUDP && binary.BigEndian.Uint16(s.seg[s.csum:s.csum+2]) == 0 {
		return s.ipv4
	}
	return Fold(Checksum(s.seg, s.pseudo)) == 0xffff
}
