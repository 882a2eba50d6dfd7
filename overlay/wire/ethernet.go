package wire

import "encoding/binary"

// Ethernet is a view of an Ethernet II frame without FCS, as AF_XDP and TAP
// devices deliver it.
type Ethernet []byte

// ParseEthernet returns b as an Ethernet view when it holds at least the
// 14-byte header.
func ParseEthernet(b []byte) (Ethernet, bool) {
	if len(b) < EthHeaderLen {
		return nil, false
	}
	return Ethernet(b), true
}

// Dst returns the destination address.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// EtherType returns the EtherType (or 802.3 length) field after the
// addresses, which is a VLAN TPID for tagged frames.
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// SetDst sets the destination address.
func (e Ethernet) SetDst(m MAC) { copy(e[0:6], m[:]) }

// SetSrc sets the source address.
func (e Ethernet) SetSrc(m MAC) { copy(e[6:12], m[:]) }

// SetEtherType sets the EtherType field after the addresses.
func (e Ethernet) SetEtherType(t uint16) { binary.BigEndian.PutUint16(e[12:14], t) }

// Payload returns the bytes after the 14-byte header, which start with the
// VLAN TCI for tagged frames.
func (e Ethernet) Payload() []byte { return e[EthHeaderLen:] }

// L3 returns the EtherType after up to two VLAN tags (802.1Q or 802.1ad TPID,
// in either position) and the offset of the L3 header in the frame. It
// reports false when a tag is cut short. A third tag is not skipped, so L3
// then returns its TPID as the EtherType.
func (e Ethernet) L3() (etherType uint16, offset int, ok bool) {
	if len(e) < EthHeaderLen {
		return 0, 0, false
	}
	etherType = e.EtherType()
	offset = EthHeaderLen
	for tags := 0; tags < 2 && isVLANTPID(etherType); tags++ {
		if len(e) < offset+VLANTagLen {
			return 0, 0, false
		}
		etherType = binary.BigEndian.Uint16(e[offset+2 : offset+4])
		offset += VLANTagLen
	}
	return etherType, offset, true
}

func isVLANTPID(t uint16) bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ
}

// MulticastMAC returns the Ethernet address of an IPv4 multicast group:
// 01:00:5e followed by the low 23 bits of the group (RFC 1112 section 6.4).
func MulticastMAC(group [4]byte) MAC {
	return MAC{0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]}
}

// isIPv4Multicast reports whether a is in 224.0.0.0/4 (RFC 5771).
func isIPv4Multicast(a [4]byte) bool { return a[0]&0xf0 == 0xe0 }
