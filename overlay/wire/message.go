package wire

import "encoding/binary"

// ParseMsgHeader returns the id and opcode of the message header at the
// start of a UDP payload on Port. It reports false when b is shorter than
// the 4-byte header.
func ParseMsgHeader(b []byte) (id, opcode uint16, ok bool) {
	if len(b) < MsgHeaderLen {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]), true
}

// PutMsgHeader writes a message header into b[:4]. It panics if len(b) < 4.
func PutMsgHeader(b []byte, id, opcode uint16) {
	_ = b[MsgHeaderLen-1]
	binary.BigEndian.PutUint16(b[0:2], id)
	binary.BigEndian.PutUint16(b[2:4], opcode)
}

// EtherIP is a view of the original's extended EtherIP header (18 bytes)
// and the Ethernet frame that follows it:
//
//	0      1      2                         18
//	+------+------+-------------------------+----------------
//	| res  |ver|rs|  vnet id, 16 bytes, BE  | inner frame ...
//	+------+------+-------------------------+----------------
//
// The version word is a little-endian C bitfield (12 reserved bits, then a
// 4-bit version), so an x86 sender puts the version 4 in the high nibble of
// the second byte and leaves the reserved bits uninitialised
// (if_etherip.h, etherip.c). The inner frame has no FCS and no padding.
type EtherIP []byte

// ParseEtherIP returns b as an EtherIP view. It requires the 18-byte header
// and a whole inner Ethernet header after it, and version 4 in the high
// nibble of the second byte. Like the original receiver, it ignores the
// reserved bits. So it accepts "00 40" and "0f 4f" but rejects "40 00" (a
// big-endian sender) and "00 30" (RFC 3378 version 3).
func ParseEtherIP(b []byte) (EtherIP, bool) {
	if checkEtherIP(b) != ReasonNone {
		return nil, false
	}
	return EtherIP(b), true
}

func checkEtherIP(b []byte) Reason {
	if len(b) < EtherIPHeaderLen+EthHeaderLen {
		return ReasonShort
	}
	if b[1]>>4 != EtherIPVersion {
		return ReasonEtherIPVersion
	}
	return ReasonNone
}

// Version returns the version nibble, which is 4 for a view from
// ParseEtherIP.
func (e EtherIP) Version() uint8 { return e[1] >> 4 }

// Vnet returns the vnet id.
func (e EtherIP) Vnet() VnetID { return VnetID(e[2:18]) }

// Frame returns the inner Ethernet frame after the 18-byte header.
func (e EtherIP) Frame() []byte { return e[EtherIPHeaderLen:] }

// PutEtherIP writes an EtherIP header into b[:18]: the version word "00 40",
// with the reserved bits zero, and the vnet id. It panics if len(b) < 18.
func PutEtherIP(b []byte, vnet VnetID) {
	_ = b[EtherIPHeaderLen-1]
	b[0] = 0
	b[1] = EtherIPVersion << 4
	copy(b[2:18], vnet[:])
}

// Varp is a view of a 43-byte VARP message, message header included
// (if_varp.h VarpHdr):
//
//	off size field
//	  0    2 id, 1
//	  2    2 opcode: 1 request, 2 announce
//	  4   16 vnet id
//	 20    6 MAC address being resolved or announced
//	 26    1 address family: 2 for IPv4
//	 27   16 address: the IPv4 care-of address in the first 4 bytes, then zero
type Varp []byte

// ParseVarp returns the first 43 bytes of b as a VARP view. It requires at
// least 43 bytes and message id 1, and it ignores bytes after the 43rd, as
// the original does. The opcode and family are not checked.
func ParseVarp(b []byte) (Varp, bool) {
	if len(b) < VarpLen || binary.BigEndian.Uint16(b[0:2]) != MsgVARP {
		return nil, false
	}
	return Varp(b[:VarpLen]), true
}

// Opcode returns the opcode, VarpRequest or VarpAnnounce for a valid message.
func (v Varp) Opcode() uint16 { return binary.BigEndian.Uint16(v[2:4]) }

// Vnet returns the vnet id.
func (v Varp) Vnet() VnetID { return VnetID(v[4:20]) }

// MAC returns the MAC address being resolved or announced.
func (v Varp) MAC() MAC { return MAC(v[20:26]) }

// Family returns the address family byte, VarpFamilyIPv4 in every message
// the original sends.
func (v Varp) Family() uint8 { return v[26] }

// Addr returns the first 4 address bytes, the IPv4 care-of address when
// Family returns VarpFamilyIPv4. A request carries the requester's address,
// which the original ignores.
func (v Varp) Addr() [4]byte { return [4]byte(v[27:31]) }

// PutVarp writes a 43-byte VARP message into b[:43] with the IPv4 family
// and addr, and zeroes the 12 address bytes after addr. It panics if
// len(b) < 43.
func PutVarp(b []byte, opcode uint16, vnet VnetID, mac MAC, addr [4]byte) {
	_ = b[VarpLen-1]
	PutMsgHeader(b, MsgVARP, opcode)
	copy(b[4:20], vnet[:])
	copy(b[20:26], mac[:])
	b[26] = VarpFamilyIPv4
	copy(b[27:31], addr[:])
	clear(b[31:VarpLen])
}

// Forward is a view of the payload of a VFWD message after its 4-byte
// message header: the complete IPv4 packet of the original group sender,
// with its UDP header and message. A forwarder may synthesise the inner IPv4
// header, setting only protocol, source and destination and leaving
// version, IHL, total length, TTL and checksum zero, and may leave the inner
// UDP length and checksum zero (vnetd.c skb_recv_udp). An inner source of
// 0.0.0.0 means that the packet originated at the forwarder.
type Forward []byte

// ParseForward returns b, the bytes after the VFWD message header, as a
// Forward view. It accepts version 4 or 0, takes an IHL of 0 as a 20-byte
// header, and cuts the view to the inner total length unless that is 0. It
// requires inner protocol UDP and, after the inner IPv4 header, an 8-byte
// UDP header and a 4-byte message header.
func ParseForward(b []byte) (Forward, bool) {
	if len(b) < IPv4HeaderLen {
		return nil, false
	}
	version := b[0] >> 4
	if version != 4 && version != 0 {
		return nil, false
	}
	hl := int(b[0]&0x0f) * 4
	if hl == 0 {
		hl = IPv4HeaderLen
	}
	if hl < IPv4HeaderLen {
		return nil, false
	}
	if b[9] != ProtoUDP {
		return nil, false
	}
	if total := int(binary.BigEndian.Uint16(b[2:4])); total != 0 {
		if total > len(b) {
			return nil, false
		}
		b = b[:total]
	}
	// This also keeps the view at least 20 bytes long for the accessors.
	if len(b) < hl+UDPHeaderLen+MsgHeaderLen {
		return nil, false
	}
	return Forward(b), true
}

// InnerHeaderLen returns the inner IPv4 header length: IHL * 4, or 20 when
// the IHL field is 0.
func (f Forward) InnerHeaderLen() int {
	if hl := int(f[0]&0x0f) * 4; hl != 0 {
		return hl
	}
	return IPv4HeaderLen
}

// InnerSrc returns the inner source address.
func (f Forward) InnerSrc() [4]byte { return [4]byte(f[12:16]) }

// InnerDst returns the inner destination address, usually the sender's
// group.
func (f Forward) InnerDst() [4]byte { return [4]byte(f[16:20]) }

// InnerProtocol returns the inner protocol, ProtoUDP for a view from
// ParseForward.
func (f Forward) InnerProtocol() uint8 { return f[9] }

// InnerUDP returns the inner UDP header and payload. Its length field may
// be 0, so read it as bytes rather than with ParseUDP.
func (f Forward) InnerUDP() []byte { return f[f.InnerHeaderLen():] }

// InnerMsg returns the inner UDP payload, which starts with the message
// header of the forwarded VARP or VUDP message.
func (f Forward) InnerMsg() []byte { return f[f.InnerHeaderLen()+UDPHeaderLen:] }

// SetInnerSrc sets the inner source address, as a receiver does when it is
// 0.0.0.0. The inner header checksum is left as it is.
func (f Forward) SetInnerSrc(a [4]byte) { copy(f[12:16], a[:]) }

// SetInnerDst sets the inner destination address, as a receiver does to
// map a foreign group to its own. The inner header checksum is left as it
// is.
func (f Forward) SetInnerDst(a [4]byte) { copy(f[16:20], a[:]) }
