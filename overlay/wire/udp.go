package wire

import "encoding/binary"

// UDP is a view of a UDP datagram (RFC 768), cut to its length field.
type UDP []byte

// ParseUDP returns b as a UDP view cut to the length field. It requires an
// 8-byte header and a length field between 8 and len(b). It does not check
// the checksum.
func ParseUDP(b []byte) (UDP, bool) {
	if checkUDP(b) != ReasonNone {
		return nil, false
	}
	return UDP(b[:binary.BigEndian.Uint16(b[4:6])]), true
}

// checkUDP returns ReasonShort when b cannot hold a UDP header and
// ReasonUDP when the length field is below 8 or beyond b.
func checkUDP(b []byte) Reason {
	if len(b) < UDPHeaderLen {
		return ReasonShort
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n < UDPHeaderLen || n > len(b) {
		return ReasonUDP
	}
	return ReasonNone
}

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Length returns the length field, header included.
func (u UDP) Length() uint16 { return binary.BigEndian.Uint16(u[4:6]) }

// Checksum returns the checksum field. Over IPv4, 0 means that the sender
// computed no checksum.
func (u UDP) Checksum() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// Payload returns the bytes after the header, up to the length field.
func (u UDP) Payload() []byte { return u[UDPHeaderLen:] }

// putUDPHeader writes a UDP header with the given length and checksum 0,
// which the original kernel module sends and every receiver accepts over
// IPv4.
func putUDPHeader(b []byte, srcPort, dstPort uint16, length int) {
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(length))
	binary.BigEndian.PutUint16(b[6:8], 0)
}
