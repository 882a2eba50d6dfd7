package wire

import "encoding/binary"

// IPv4 is a view of an IPv4 packet (RFC 791) whose header ParseIPv4 has
// checked. It ends at the total length, so Ethernet padding is not part of
// it.
type IPv4 []byte

// ParseIPv4 returns b as an IPv4 view, cut to the total length. It requires
// version 4, an IHL of at least 5, a whole header in b, and a total length
// between the header length and len(b). It does not check the header
// checksum (see IPv4.ChecksumValid).
func ParseIPv4(b []byte) (IPv4, bool) {
	if checkIPv4(b) != ReasonNone {
		return nil, false
	}
	return IPv4(b[:binary.BigEndian.Uint16(b[2:4])]), true
}

// checkIPv4 returns why b is not an IPv4 packet that ParseIPv4 accepts:
// ReasonShort when b ends before the header or the total length, ReasonIPv4
// for a wrong version, IHL or total length field.
func checkIPv4(b []byte) Reason {
	if len(b) < IPv4HeaderLen {
		return ReasonShort
	}
	if b[0]>>4 != 4 {
		return ReasonIPv4
	}
	hl := int(b[0]&0x0f) * 4
	if hl < IPv4HeaderLen {
		return ReasonIPv4
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hl {
		return ReasonIPv4
	}
	if len(b) < hl || len(b) < total {
		return ReasonShort
	}
	return ReasonNone
}

// HeaderLen returns the header length in bytes (IHL * 4).
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TotalLen returns the total length field, which is len(ip) for a view
// from ParseIPv4.
func (ip IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(ip[2:4])) }

// ID returns the identification field.
func (ip IPv4) ID() uint16 { return binary.BigEndian.Uint16(ip[4:6]) }

func (ip IPv4) flagsFragment() uint16 { return binary.BigEndian.Uint16(ip[6:8]) }

// DontFragment reports whether the DF flag is set.
func (ip IPv4) DontFragment() bool { return ip.flagsFragment()&ipv4FlagDF != 0 }

// MoreFragments reports whether the MF flag is set.
func (ip IPv4) MoreFragments() bool { return ip.flagsFragment()&ipv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (ip IPv4) FragmentOffset() int { return int(ip.flagsFragment()&ipv4FragOffsetMask) * 8 }

// IsFragment reports whether the packet is a fragment (MF set or a non-zero
// offset) and therefore needs reassembly before its payload can be read.
func (ip IPv4) IsFragment() bool {
	return ip.flagsFragment()&(ipv4FlagMF|ipv4FragOffsetMask) != 0
}

// TTL returns the time-to-live field.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the protocol field.
func (ip IPv4) Protocol() uint8 { return ip[9] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:12]) }

// Src returns the source address.
func (ip IPv4) Src() [4]byte { return [4]byte(ip[12:16]) }

// Dst returns the destination address.
func (ip IPv4) Dst() [4]byte { return [4]byte(ip[16:20]) }

// Payload returns the bytes after the header, up to the total length.
func (ip IPv4) Payload() []byte { return ip[ip.HeaderLen():] }

// ChecksumValid reports whether the header checksum verifies.
func (ip IPv4) ChecksumValid() bool {
	return Fold(Checksum(ip[:ip.HeaderLen()], 0)) == 0xffff
}

// SetTTL sets the time-to-live field. The caller updates the checksum.
func (ip IPv4) SetTTL(ttl uint8) { ip[8] = ttl }

// SetSrc sets the source address. The caller updates the checksum.
func (ip IPv4) SetSrc(a [4]byte) { copy(ip[12:16], a[:]) }

// SetDst sets the destination address. The caller updates the checksum.
func (ip IPv4) SetDst(a [4]byte) { copy(ip[16:20], a[:]) }

// UpdateChecksum recomputes the header checksum field.
func (ip IPv4) UpdateChecksum() {
	binary.BigEndian.PutUint16(ip[10:12], IPv4HeaderChecksum(ip[:ip.HeaderLen()]))
}
