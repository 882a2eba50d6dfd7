package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Frame sizes are Ethernet frames without the FCS: 60 bytes is the
// minimum "64-byte" frame and 1514 bytes carries a 1500-byte IP packet.
const (
	MinFrame = 60
	MaxFrame = 1514

	ipv4UDPHeaders = wire.EthHeaderLen + wire.IPv4HeaderLen + wire.UDPHeaderLen
	// VXLANPort is the IANA port of VXLAN (RFC 7348, section 5).
	VXLANPort = 4789
	// vxlanHeaderLen is the VXLAN header: flags, reserved, VNI, reserved.
	vxlanHeaderLen = 8
	// VXLANEncapLen is what VXLAN over IPv4 adds to an inner frame.
	VXLANEncapLen = ipv4UDPHeaders + vxlanHeaderLen
)

// Endpoint is one side of a frame: its Ethernet and IPv4 addresses and
// UDP port.
type Endpoint struct {
	MAC  wire.MAC
	Addr [4]byte
	Port uint16
}

// UDPFrame returns an Ethernet frame of size bytes that carries an IPv4
// UDP datagram from src to dst, with correct IPv4 and UDP checksums and
// TTL 64. The payload is a counting byte pattern.
func UDPFrame(size int, src, dst Endpoint) ([]byte, error) {
	if size < ipv4UDPHeaders || size > 9000 {
		return nil, fmt.Errorf("build UDP frame: invalid size %d (use %d to 9000 bytes)", size, ipv4UDPHeaders)
	}
	f := make([]byte, size)
	copy(f[0:6], dst.MAC[:])
	copy(f[6:12], src.MAC[:])
	binary.BigEndian.PutUint16(f[12:14], wire.EtherTypeIPv4)

	ip := f[wire.EthHeaderLen:]
	putIPv4(ip, src.Addr, dst.Addr, wire.ProtoUDP, size-wire.EthHeaderLen)

	udp := ip[wire.IPv4HeaderLen:]
	udpLen := size - wire.EthHeaderLen - wire.IPv4HeaderLen
	binary.BigEndian.PutUint16(udp[0:2], src.Port)
	binary.BigEndian.PutUint16(udp[2:4], dst.Port)
	binary.BigEndian.PutUint16(udp[4:6], uint16(udpLen))
	for i := wire.UDPHeaderLen; i < udpLen; i++ {
		udp[i] = byte(i)
	}
	// RFC 768: the sum over the pseudo header and the datagram; a
	// computed 0 is sent as 0xffff.
	var pseudo [12]byte
	copy(pseudo[0:4], src.Addr[:])
	copy(pseudo[4:8], dst.Addr[:])
	pseudo[9] = wire.ProtoUDP
	binary.BigEndian.PutUint16(pseudo[10:12], uint16(udpLen))
	sum := ^wire.Fold(wire.Checksum(udp[:udpLen], wire.Checksum(pseudo[:], 0)))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:8], sum)
	return f, nil
}

// putIPv4 writes a 20-byte IPv4 header with DF clear, TTL 64 and its
// checksum.
func putIPv4(ip []byte, src, dst [4]byte, proto uint8, total int) {
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:4], uint16(total))
	binary.BigEndian.PutUint16(ip[4:6], 0)
	binary.BigEndian.PutUint16(ip[6:8], 0)
	ip[8] = 64
	ip[9] = proto
	binary.BigEndian.PutUint16(ip[10:12], 0)
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:12], ^wire.Fold(wire.Checksum(ip[:wire.IPv4HeaderLen], 0)))
}

// VUDPFrame returns inner encapsulated as vnet sends it: outer Ethernet,
// IPv4, UDP to port 1798 with checksum 0, the message header and the
// EtherIP header with vnet id.
func VUDPFrame(inner []byte, src, dst Endpoint, id wire.VnetID) []byte {
	f := make([]byte, wire.EncapLen+len(inner))
	o := wire.Outer{
		EthDst:       dst.MAC,
		EthSrc:       src.MAC,
		Src:          src.Addr,
		Dst:          dst.Addr,
		TTL:          64,
		DontFragment: true,
		SrcPort:      src.Port,
		Vnet:         id,
	}
	wire.PutVUDP(f[:wire.EncapLen], &o, len(inner))
	copy(f[wire.EncapLen:], inner)
	return f
}

// SealedVUDPFrame returns the VUDP frame f sealed in ESP with mode and
// the vnet's pre-shared key psk, as vnetd on the frame's source host
// sends it. Every call draws a new SA, so a receiver accepts the frame
// once, and rejects further copies as replays.
func SealedVUDPFrame(f []byte, mode esp.Mode, psk []byte) ([]byte, error) {
	const l3 = wire.EthHeaderLen + wire.IPv4HeaderLen
	ip, ok := wire.ParseIPv4(f[min(len(f), wire.EthHeaderLen):])
	var udp wire.UDP
	if ok {
		udp, ok = wire.ParseUDP(ip.Payload())
	}
	var e wire.EtherIP
	if ok && len(udp.Payload()) >= wire.MsgHeaderLen {
		e, ok = wire.ParseEtherIP(udp.Payload()[wire.MsgHeaderLen:])
	}
	if !ok || ip.HeaderLen() != wire.IPv4HeaderLen {
		return nil, fmt.Errorf("seal frame: %d bytes that are not a VUDP frame", len(f))
	}
	key, err := esp.NewKey(e.Vnet(), mode, psk)
	if err != nil {
		return nil, err
	}
	defer key.Close()
	s, err := key.NewSender(ip.Src())
	if err != nil {
		return nil, err
	}
	defer s.Close()

	h := mode.HeaderLen()
	out := make([]byte, l3+h+mode.SealedLen(len(f)-l3))
	copy(out, f[:l3])
	copy(out[l3+h:], f[l3:])
	n, err := s.Seal(out[wire.EthHeaderLen:])
	if err != nil {
		return nil, fmt.Errorf("seal frame: %w", err)
	}
	return out[:wire.EthHeaderLen+n], nil
}

// VXLANFrame returns inner encapsulated in VXLAN (RFC 7348) with network
// identifier vni: outer Ethernet, IPv4 and UDP to port 4789 with checksum
// 0, which Linux accepts for VXLAN over IPv4.
func VXLANFrame(inner []byte, src, dst Endpoint, vni uint32) []byte {
	f := make([]byte, VXLANEncapLen+len(inner))
	copy(f[0:6], dst.MAC[:])
	copy(f[6:12], src.MAC[:])
	binary.BigEndian.PutUint16(f[12:14], wire.EtherTypeIPv4)
	ip := f[wire.EthHeaderLen:]
	putIPv4(ip, src.Addr, dst.Addr, wire.ProtoUDP, len(f)-wire.EthHeaderLen)
	udp := ip[wire.IPv4HeaderLen:]
	binary.BigEndian.PutUint16(udp[0:2], src.Port)
	binary.BigEndian.PutUint16(udp[2:4], VXLANPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(f)-wire.EthHeaderLen-wire.IPv4HeaderLen))
	vx := udp[wire.UDPHeaderLen:]
	vx[0] = 0x08 // I flag: the VNI is valid
	vx[4] = byte(vni >> 16)
	vx[5] = byte(vni >> 8)
	vx[6] = byte(vni)
	copy(f[VXLANEncapLen:], inner)
	return f
}
