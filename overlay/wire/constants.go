package wire

import (
	"fmt"
	"net/netip"
)

// Vnet protocol constants. The header file names are those of the original
// Xen vnet sources (tools/vnet in the Xen tree, 2006 to 2011).
const (
	// Port is the UDP port of VARP, VUDP and VFWD, used as the destination
	// of every message and as the usual source port (if_varp.h VARP_PORT).
	Port = 1798

	// DefaultTTL is the IPv4 TTL the original kernel module writes into the
	// outer headers it builds (etherip.c, varp.c, vnet_forward.c).
	DefaultTTL = 64
)

// Message header ids, the first field of the 4-byte message header at the
// start of every UDP payload on Port (if_varp.h VnetMsgHdr).
const (
	MsgVARP = 1 // VARP request or announce
	MsgVUDP = 2 // EtherIP in UDP: a tunnelled Ethernet frame
	MsgVFWD = 3 // a group packet forwarded by unicast to a peer
)

// VARP opcodes, the second field of the message header of a VARP message
// (if_varp.h). VUDP and VFWD send opcode 0, and receivers ignore it.
const (
	VarpRequest  = 1
	VarpAnnounce = 2
)

// VARP address families, the byte before the care-of address of a VARP
// message. They are the Linux AF_INET and AF_INET6 values (if_varp.h
// VarpAddr). The original sends only the IPv4 family.
const (
	VarpFamilyIPv4 = 2
	VarpFamilyIPv6 = 10
)

// EtherIPVersion is the version of the extended 18-byte EtherIP header
// (if_etherip.h with CONFIG_ETHERIP_EXT). RFC 3378 EtherIP uses version 3
// and a 2-byte header, which the original does not accept.
const EtherIPVersion = 4

// Header lengths in bytes.
const (
	EthHeaderLen     = 14 // destination, source, EtherType (IEEE 802.3)
	VLANTagLen       = 4  // TPID and TCI (IEEE 802.1Q)
	IPv4HeaderLen    = 20 // without options (RFC 791)
	IPv6HeaderLen    = 40 // fixed header (RFC 8200)
	UDPHeaderLen     = 8  // RFC 768
	TCPHeaderLen     = 20 // without options (RFC 9293)
	MsgHeaderLen     = 4  // id and opcode (if_varp.h VnetMsgHdr)
	EtherIPHeaderLen = 18 // version word and vnet id (if_etherip.h)
	VarpLen          = 43 // whole VARP message with its header (if_varp.h VarpHdr)

	// EncapLen is the encapsulation that PutVUDP writes before an inner
	// frame: outer Ethernet, IPv4 without options, UDP, message header and
	// EtherIP. It equals the original's device header_n in UDP mode
	// (vnet_dev.c), which rounds 14+20+18+4+8 up to a multiple of 4.
	EncapLen = EthHeaderLen + IPv4HeaderLen + UDPHeaderLen + MsgHeaderLen + EtherIPHeaderLen

	// EtherIPEncapLen is the encapsulation of raw EtherIP (IPv4 protocol
	// 97) before an inner frame: outer Ethernet, IPv4 and EtherIP.
	EtherIPEncapLen = EthHeaderLen + IPv4HeaderLen + EtherIPHeaderLen

	// VarpPacketLen is the length of a whole VARP frame on Ethernet.
	VarpPacketLen = EthHeaderLen + IPv4HeaderLen + UDPHeaderLen + VarpLen

	// ForwardHeaderLen is what PutForwardHeader writes before the inner
	// IPv4 packet of a VFWD message: IPv4, UDP and message header.
	ForwardHeaderLen = IPv4HeaderLen + UDPHeaderLen + MsgHeaderLen

	// ForwardEncapLen is what PutForwardFrame writes before the inner
	// IPv4 packet: ForwardHeaderLen with an Ethernet header in front.
	ForwardEncapLen = EthHeaderLen + ForwardHeaderLen

	// MaxInnerLen is the largest inner frame a VUDP packet can carry, as
	// the IPv4 total length is a 16-bit field.
	MaxInnerLen = 0xffff - (IPv4HeaderLen + UDPHeaderLen + MsgHeaderLen + EtherIPHeaderLen)
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoICMP    = 1  // RFC 792
	ProtoTCP     = 6  // RFC 9293
	ProtoUDP     = 17 // RFC 768
	ProtoESP     = 50 // RFC 4303
	ProtoICMPv6  = 58 // RFC 4443
	ProtoEtherIP = 97 // RFC 3378
)

// EtherTypes (IEEE "EtherType" registry).
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeIPv6 = 0x86dd
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad service tag
)

// IPv4 header fields (RFC 791).
const (
	ipv4FlagDF         = 0x4000 // don't fragment
	ipv4FlagMF         = 0x2000 // more fragments
	ipv4FragOffsetMask = 0x1fff // in units of 8 bytes
)

// DefaultGroup is the multicast group that carries flooded frames and VARP
// requests of every vnet (if_varp.h, 0xe00a0001).
var DefaultGroup = netip.AddrFrom4([4]byte{224, 10, 0, 1})

// localControlBlock is 224.0.0.0/24, the groups that hosts and routers of
// a link use for their own protocols, such as 224.0.0.1, all hosts
// (RFC 5771 section 4).
var localControlBlock = netip.MustParsePrefix("224.0.0.0/24")

// CheckGroup reports why addr cannot be the group of the vnets: it must
// be an IPv4 multicast address outside the local network control block.
func CheckGroup(addr netip.Addr) error {
	if !addr.Is4() || !addr.IsMulticast() {
		return fmt.Errorf("address %s is not an IPv4 multicast group (use an address from 224.0.1.0 to 239.255.255.255, such as %s)", addr, DefaultGroup)
	}
	if localControlBlock.Contains(addr) {
		return fmt.Errorf("group %s is in 224.0.0.0/24, which every host and router of the link uses for its own protocols (use another group, such as %s)", addr, DefaultGroup)
	}
	return nil
}
