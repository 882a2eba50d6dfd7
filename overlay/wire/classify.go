package wire

// Class names what an underlay frame is, as far as the bytes alone tell.
type Class uint8

const (
	// ClassOther is traffic that is not for the vnet dataplane: non-IPv4,
	// ARP, IGMP, ESP, UDP to ports other than Port, and so on.
	ClassOther Class = iota
	// ClassDataGroup is a VUDP frame to a multicast or limited broadcast
	// destination: flooded, broadcast or multicast inner traffic.
	ClassDataGroup
	// ClassDataUnicast is a VUDP frame to a unicast destination.
	ClassDataUnicast
	ClassVarpRequest
	ClassVarpAnnounce
	// ClassForward is a VFWD message carrying a VARP or VUDP message.
	ClassForward
	// ClassEtherIP is raw EtherIP, IPv4 protocol 97.
	ClassEtherIP
	// ClassMalformed is vnet traffic that cannot be processed. The Reason
	// returned with it gives the cause.
	ClassMalformed
)

var classNames = [...]string{
	ClassOther:        "other",
	ClassDataGroup:    "data_group",
	ClassDataUnicast:  "data_unicast",
	ClassVarpRequest:  "varp_request",
	ClassVarpAnnounce: "varp_announce",
	ClassForward:      "forward",
	ClassEtherIP:      "etherip",
	ClassMalformed:    "malformed",
}

// String returns the class name in snake_case, for counter names.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class_unknown"
}

// Reason names why a frame is malformed.
type Reason uint8

const (
	ReasonNone Reason = iota
	// ReasonShort is a frame cut short inside its headers, or an IPv4
	// packet longer than the frame.
	ReasonShort
	// ReasonIPv4 is an IPv4 header with a wrong version, IHL, total length
	// or header checksum.
	ReasonIPv4
	// ReasonUDP is a UDP length field below 8 or beyond the IPv4 payload.
	ReasonUDP
	// ReasonMsgID is a message header id other than 1, 2 or 3.
	ReasonMsgID
	// ReasonEtherIPVersion is an EtherIP version nibble other than 4.
	ReasonEtherIPVersion
	// ReasonVarp is a VARP message shorter than 43 bytes, with an unknown
	// opcode, or an announce of a non-IPv4 address.
	ReasonVarp
	// ReasonForward is a VFWD payload that ParseForward rejects or whose
	// inner message is neither VARP nor VUDP.
	ReasonForward
	// ReasonFragment is an IPv4 fragment of UDP or EtherIP, which needs
	// reassembly before it can be classified further.
	ReasonFragment
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonShort:          "short",
	ReasonIPv4:           "ipv4",
	ReasonUDP:            "udp",
	ReasonMsgID:          "msg_id",
	ReasonEtherIPVersion: "etherip_version",
	ReasonVarp:           "varp",
	ReasonForward:        "forward",
	ReasonFragment:       "fragment",
}

// String returns the reason name in snake_case, for counter names.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason_unknown"
}

// Classify names what an underlay Ethernet frame is, without any local
// state. It does not know the configured vnets, group or peers. The reason
// is ReasonNone unless the class is ClassMalformed.
//
// Classify verifies the outer IPv4 header checksum but not the UDP
// checksum, which a sender with checksum offload can leave as the
// pseudo-header sum on a veth link (see CompleteL4Checksum).
//
// Frames with up to two VLAN tags are looked through. A frame shorter than
// an Ethernet header is ClassMalformed with ReasonShort. A fragment of UDP
// or EtherIP is ClassMalformed with ReasonFragment unless it is a first
// fragment whose UDP destination port is not Port. A non-first UDP fragment
// of other traffic is therefore also counted as a vnet fragment, because
// nothing in it names its port.
func Classify(frame []byte) (Class, Reason) {
	eth, ok := ParseEthernet(frame)
	if !ok {
		return ClassMalformed, ReasonShort
	}
	etherType, off, ok := eth.L3()
	if !ok {
		return ClassMalformed, ReasonShort
	}
	if etherType != EtherTypeIPv4 {
		return ClassOther, ReasonNone
	}

	if r := checkIPv4(frame[off:]); r != ReasonNone {
		return ClassMalformed, r
	}
	ip := IPv4(frame[off:])
	ip = ip[:ip.TotalLen()]
	if !ip.ChecksumValid() {
		return ClassMalformed, ReasonIPv4
	}

	switch ip.Protocol() {
	case ProtoUDP:
		return classifyUDP(ip)
	case ProtoEtherIP:
		if ip.IsFragment() {
			return ClassMalformed, ReasonFragment
		}
		if r := checkEtherIP(ip.Payload()); r != ReasonNone {
			return ClassMalformed, r
		}
		return ClassEtherIP, ReasonNone
	}
	return ClassOther, ReasonNone
}

// classifyUDP classifies an IPv4 packet with protocol UDP and a valid header.
func classifyUDP(ip IPv4) (Class, Reason) {
	payload := ip.Payload()
	if ip.IsFragment() {
		// A first fragment contains the UDP header, so traffic to other
		// ports is recognised. Its length field covers the whole datagram,
		// so only the port is read.
		if ip.FragmentOffset() == 0 && len(payload) >= UDPHeaderLen &&
			UDP(payload).DstPort() != Port {
			return ClassOther, ReasonNone
		}
		return ClassMalformed, ReasonFragment
	}

	if len(payload) >= UDPHeaderLen && UDP(payload).DstPort() != Port {
		return ClassOther, ReasonNone
	}
	if r := checkUDP(payload); r != ReasonNone {
		return ClassMalformed, r
	}
	msg := UDP(payload[:UDP(payload).Length()]).Payload()

	id, opcode, ok := ParseMsgHeader(msg)
	if !ok {
		return ClassMalformed, ReasonShort
	}
	switch id {
	case MsgVARP:
		return classifyVarp(msg, opcode)
	case MsgVUDP:
		if r := checkEtherIP(msg[MsgHeaderLen:]); r != ReasonNone {
			return ClassMalformed, r
		}
		if dst := ip.Dst(); isIPv4Multicast(dst) || dst == [4]byte{255, 255, 255, 255} {
			return ClassDataGroup, ReasonNone
		}
		return ClassDataUnicast, ReasonNone
	case MsgVFWD:
		f, ok := ParseForward(msg[MsgHeaderLen:])
		if !ok {
			return ClassMalformed, ReasonForward
		}
		if innerID, _, _ := ParseMsgHeader(f.InnerMsg()); innerID != MsgVARP && innerID != MsgVUDP {
			return ClassMalformed, ReasonForward
		}
		return ClassForward, ReasonNone
	}
	return ClassMalformed, ReasonMsgID
}

func classifyVarp(msg []byte, opcode uint16) (Class, Reason) {
	v, ok := ParseVarp(msg)
	if !ok {
		return ClassMalformed, ReasonVarp
	}
	switch opcode {
	case VarpRequest:
		return ClassVarpRequest, ReasonNone
	case VarpAnnounce:
		if v.Family() != VarpFamilyIPv4 {
			return ClassMalformed, ReasonVarp
		}
		return ClassVarpAnnounce, ReasonNone
	}
	return ClassMalformed, ReasonVarp
}
