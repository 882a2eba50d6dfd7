package wire

import (
	"bytes"
	"testing"
)

// Golden packets built byte by byte from the original's layouts, as its
// kernel module sends them: IPv4 TOS 0, DF clear, TTL 64, UDP ports 1798 and
// UDP checksum 0. Hosts 198.18.0.1 (02:00:00:00:00:01) and 198.18.0.2
// (02:00:00:00:00:02) and peer 198.18.1.3 (02:00:00:00:00:03) carry vnet
// 1500. The dumps are tcpdump -XX output of the same bytes.

var (
	hostMAC1 = MAC{0x02, 0, 0, 0, 0, 0x01}
	hostMAC2 = MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = MAC{0x02, 0, 0, 0, 0, 0x03}
	groupMAC = MAC{0x01, 0x00, 0x5e, 0x0a, 0x00, 0x01}
	host1    = [4]byte{198, 18, 0, 1}
	host2    = [4]byte{198, 18, 0, 2}
	host5    = [4]byte{198, 18, 0, 5}
	peer     = [4]byte{198, 18, 1, 3}
	group    = [4]byte{224, 10, 0, 1}
	vnet1500 = VnetIDFromUint16(0x1500)
	guestMAC = MAC{0xd6, 0x6c, 0xf5, 0x3d, 0x51, 0x3d}
)

// innerARP is a guest's broadcast ARP request (who has 198.19.0.2, tell
// 198.19.0.1), 42 bytes without padding, as EtherIP carries it.
var innerARP = mustHex("ffffffffffff f297147020f1 0806" +
	"0001 0800 06 04 0001 f297147020f1 c6130001 000000000000 c6130002")

// innerUDP is a guest's IPv4 UDP datagram "ping" from 198.19.0.1:5001 to
// 198.19.0.2:5000, with a complete UDP checksum.
var innerUDP = mustHex("d66cf53d513d f297147020f1 0800" +
	"4500 0020 1234 4000 4011 9c6f c6130001 c6130002" +
	"1389 1388 000c 6dca 70696e67")

// goldenVUDPGroup: 198.18.0.1 floods innerARP to the group 224.10.0.1.
//
//	IP 198.18.0.1.1798 > 224.10.0.1.1798: UDP, length 64
var goldenVUDPGroup = parseDump(`
	0x0000:  0100 5e0a 0001 0200 0000 0001 0800 4500  ..^...........E.
	0x0010:  005c 0101 0000 4011 d371 c612 0001 e00a  .\....@..q......
	0x0020:  0001 0706 0706 0048 0000 0002 0000 0040  .......H.......@
	0x0030:  0000 0000 0000 0000 0000 0000 0000 1500  ................
	0x0040:  ffff ffff ffff f297 1470 20f1 0806 0001  .........p......
	0x0050:  0800 0604 0001 f297 1470 20f1 c613 0001  .........p......
	0x0060:  0000 0000 0000 c613 0002                 ..........
`)

// goldenVUDPUnicast: 198.18.0.1 tunnels innerUDP to 198.18.0.2.
//
//	IP 198.18.0.1.1798 > 198.18.0.2.1798: UDP, length 68
var goldenVUDPUnicast = parseDump(`
	0x0000:  0200 0000 0002 0200 0000 0001 0800 4500  ..............E.
	0x0010:  0060 0102 0000 4011 ed63 c612 0001 c612  .` + "`" + `....@..c......
	0x0020:  0002 0706 0706 004c 0000 0002 0000 0040  .......L.......@
	0x0030:  0000 0000 0000 0000 0000 0000 0000 1500  ................
	0x0040:  d66c f53d 513d f297 1470 20f1 0800 4500  .l.=Q=...p....E.
	0x0050:  0020 1234 4000 4011 9c6f c613 0001 c613  ...4@.@..o......
	0x0060:  0002 1389 1388 000c 6dca 7069 6e67       ........m.ping
`)

// goldenVarpRequest: 198.18.0.1 requests from the group the address behind
// d6:6c:f5:3d:51:3d on vnet 1500 and includes its own address.
//
//	IP 198.18.0.1.1798 > 224.10.0.1.1798: UDP, length 43
var goldenVarpRequest = parseDump(`
	0x0000:  0100 5e0a 0001 0200 0000 0001 0800 4500  ..^...........E.
	0x0010:  0047 0103 0000 4011 d384 c612 0001 e00a  .G....@.........
	0x0020:  0001 0706 0706 0033 0000 0001 0001 0000  .......3........
	0x0030:  0000 0000 0000 0000 0000 0000 1500 d66c  ...............l
	0x0040:  f53d 513d 02c6 1200 0100 0000 0000 0000  .=Q=............
	0x0050:  0000 0000 00                             .....
`)

// goldenVarpAnnounce: 198.18.0.2 replies by unicast that
// d6:6c:f5:3d:51:3d on vnet 1500 is behind 198.18.0.2.
//
//	IP 198.18.0.2.1798 > 198.18.0.1.1798: UDP, length 43
var goldenVarpAnnounce = parseDump(`
	0x0000:  0200 0000 0001 0200 0000 0002 0800 4500  ..............E.
	0x0010:  0047 0201 0000 4011 ec7d c612 0002 c612  .G....@..}......
	0x0020:  0001 0706 0706 0033 0000 0001 0002 0000  .......3........
	0x0030:  0000 0000 0000 0000 0000 0000 1500 d66c  ...............l
	0x0040:  f53d 513d 02c6 1200 0200 0000 0000 0000  .=Q=............
	0x0050:  0000 0000 00                             .....
`)

// goldenForward: forwarder 198.18.0.1 sends peer 198.18.1.3 a copy of the
// group VARP request that 198.18.0.5 sent, inner IPv4 header intact.
//
//	IP 198.18.0.1.1798 > 198.18.1.3.1798: UDP, length 75
var goldenForward = parseDump(`
	0x0000:  0200 0000 0003 0200 0000 0001 0800 4500  ..............E.
	0x0010:  0067 0104 0000 4011 ec59 c612 0001 c612  .g....@..Y......
	0x0020:  0103 0706 0706 0053 0000 0003 0000 4500  .......S......E.
	0x0030:  0047 0501 0000 4011 cf82 c612 0005 e00a  .G....@.........
	0x0040:  0001 0706 0706 0033 0000 0001 0001 0000  .......3........
	0x0050:  0000 0000 0000 0000 0000 0000 1500 d66c  ...............l
	0x0060:  f53d 513d 02c6 1200 0500 0000 0000 0000  .=Q=............
	0x0070:  0000 0000 00                             .....
`)

// goldenForwardSynthesised: the same forwarding of a VUDP group packet
// (innerARP) from 198.18.0.5, with the inner IPv4 header synthesised as
// vnetd does it (only protocol, source and destination set) and the inner
// UDP length and checksum zero.
//
//	IP 198.18.0.1.1798 > 198.18.1.3.1798: UDP, length 96
var goldenForwardSynthesised = parseDump(`
	0x0000:  0200 0000 0003 0200 0000 0001 0800 4500  ..............E.
	0x0010:  007c 0105 0000 4011 ec43 c612 0001 c612  .|....@..C......
	0x0020:  0103 0706 0706 0068 0000 0003 0000 0000  .......h........
	0x0030:  0000 0000 0000 0011 0000 c612 0005 e00a  ................
	0x0040:  0001 0706 0706 0000 0000 0002 0000 0040  ...............@
	0x0050:  0000 0000 0000 0000 0000 0000 0000 1500  ................
	0x0060:  ffff ffff ffff f297 1470 20f1 0806 0001  .........p......
	0x0070:  0800 0604 0001 f297 1470 20f1 c613 0001  .........p......
	0x0080:  0000 0000 0000 c613 0002                 ..........
`)

// goldenEtherIP: raw EtherIP (IPv4 protocol 97, DF set) carrying innerARP
// from 198.18.0.1 to 198.18.0.2.
//
//	IP 198.18.0.1 > 198.18.0.2:  ip-proto-97 60
var goldenEtherIP = parseDump(`
	0x0000:  0200 0000 0002 0200 0000 0001 0800 4500  ..............E.
	0x0010:  0050 0106 4000 4061 ad1f c612 0001 c612  .P..@.@a........
	0x0020:  0002 0040 0000 0000 0000 0000 0000 0000  ...@............
	0x0030:  0000 1500 ffff ffff ffff f297 1470 20f1  .............p..
	0x0040:  0806 0001 0800 0604 0001 f297 1470 20f1  .............p..
	0x0050:  c613 0001 0000 0000 0000 c613 0002       ..............
`)

// outerWant lists the outer header fields of a golden packet.
type outerWant struct {
	ethDst, ethSrc MAC
	src, dst       [4]byte
	proto          uint8
	id             uint16
	df             bool
	totalLen       int
	srcPort        uint16 // UDP only
}

// checkOuter checks the Ethernet and IPv4 headers of frame, and the UDP
// header when want.proto is UDP, and returns the IPv4 payload.
func checkOuter(t *testing.T, frame []byte, want outerWant) []byte {
	t.Helper()
	eth, ok := ParseEthernet(frame)
	if !ok {
		t.Fatalf("ParseEthernet(%x) failed", frame)
	}
	if got := eth.Dst(); got != want.ethDst {
		t.Errorf("Ethernet Dst() = %v, want %v", got, want.ethDst)
	}
	if got := eth.Src(); got != want.ethSrc {
		t.Errorf("Ethernet Src() = %v, want %v", got, want.ethSrc)
	}
	if got := eth.EtherType(); got != EtherTypeIPv4 {
		t.Errorf("EtherType() = %#04x, want %#04x", got, EtherTypeIPv4)
	}

	ip, ok := ParseIPv4(eth.Payload())
	if !ok {
		t.Fatalf("ParseIPv4(%x) failed", eth.Payload())
	}
	if got := ip.HeaderLen(); got != IPv4HeaderLen {
		t.Errorf("IPv4 HeaderLen() = %d, want %d", got, IPv4HeaderLen)
	}
	if got := ip.TotalLen(); got != want.totalLen {
		t.Errorf("IPv4 TotalLen() = %d, want %d", got, want.totalLen)
	}
	if got := ip.ID(); got != want.id {
		t.Errorf("IPv4 ID() = %#04x, want %#04x", got, want.id)
	}
	if got := ip.DontFragment(); got != want.df {
		t.Errorf("IPv4 DontFragment() = %v, want %v", got, want.df)
	}
	if ip.IsFragment() {
		t.Errorf("IPv4 IsFragment() = true, want false")
	}
	if got := ip.TTL(); got != DefaultTTL {
		t.Errorf("IPv4 TTL() = %d, want %d", got, DefaultTTL)
	}
	if got := ip.Protocol(); got != want.proto {
		t.Errorf("IPv4 Protocol() = %d, want %d", got, want.proto)
	}
	if got := ip.Src(); got != want.src {
		t.Errorf("IPv4 Src() = %v, want %v", got, want.src)
	}
	if got := ip.Dst(); got != want.dst {
		t.Errorf("IPv4 Dst() = %v, want %v", got, want.dst)
	}
	if !ip.ChecksumValid() {
		t.Errorf("IPv4 ChecksumValid() = false, want true (checksum %#04x)", ip.Checksum())
	}
	if want.proto != ProtoUDP {
		return ip.Payload()
	}

	udp, ok := ParseUDP(ip.Payload())
	if !ok {
		t.Fatalf("ParseUDP(%x) failed", ip.Payload())
	}
	if got := udp.SrcPort(); got != want.srcPort {
		t.Errorf("UDP SrcPort() = %d, want %d", got, want.srcPort)
	}
	if got := udp.DstPort(); got != Port {
		t.Errorf("UDP DstPort() = %d, want %d", got, Port)
	}
	if got := int(udp.Length()); got != want.totalLen-IPv4HeaderLen {
		t.Errorf("UDP Length() = %d, want %d", got, want.totalLen-IPv4HeaderLen)
	}
	if got := udp.Checksum(); got != 0 {
		t.Errorf("UDP Checksum() = %#04x, want 0", got)
	}
	return udp.Payload()
}

func TestGoldenVUDP(t *testing.T) {
	tests := []struct {
		name      string
		frame     []byte
		outer     outerWant
		inner     []byte
		wantClass Class
	}{
		{
			name:      "group",
			frame:     goldenVUDPGroup,
			outer:     outerWant{groupMAC, hostMAC1, host1, group, ProtoUDP, 0x0101, false, 20 + 8 + 4 + 18 + 42, Port},
			inner:     innerARP,
			wantClass: ClassDataGroup,
		},
		{
			name:      "unicast",
			frame:     goldenVUDPUnicast,
			outer:     outerWant{hostMAC2, hostMAC1, host1, host2, ProtoUDP, 0x0102, false, 20 + 8 + 4 + 18 + 46, Port},
			inner:     innerUDP,
			wantClass: ClassDataUnicast,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := checkOuter(t, tt.frame, tt.outer)
			id, opcode, ok := ParseMsgHeader(msg)
			if !ok || id != MsgVUDP || opcode != 0 {
				t.Errorf("ParseMsgHeader(%x) = %d, %d, %v, want %d, 0, true", msg[:4], id, opcode, ok, MsgVUDP)
			}
			e, ok := ParseEtherIP(msg[MsgHeaderLen:])
			if !ok {
				t.Fatalf("ParseEtherIP(%x) failed", msg[MsgHeaderLen:])
			}
			if got := e.Version(); got != EtherIPVersion {
				t.Errorf("EtherIP Version() = %d, want %d", got, EtherIPVersion)
			}
			if got := e.Vnet(); got != vnet1500 {
				t.Errorf("EtherIP Vnet() = %v, want %v", got, vnet1500)
			}
			if got := e.Frame(); !bytes.Equal(got, tt.inner) {
				t.Errorf("EtherIP Frame() = %x, want %x", got, tt.inner)
			}
			if c, r := Classify(tt.frame); c != tt.wantClass || r != ReasonNone {
				t.Errorf("Classify() = %v, %v, want %v, none", c, r, tt.wantClass)
			}
		})
	}
}

func TestGoldenVUDPBuild(t *testing.T) {
	tests := []struct {
		name  string
		outer Outer
		inner []byte
		want  []byte
	}{
		{"group", Outer{EthDst: groupMAC, EthSrc: hostMAC1, Src: host1, Dst: group, TTL: DefaultTTL, ID: 0x0101, SrcPort: Port, Vnet: vnet1500}, innerARP, goldenVUDPGroup},
		{"unicast", Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: DefaultTTL, ID: 0x0102, SrcPort: Port, Vnet: vnet1500}, innerUDP, goldenVUDPUnicast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Fill with a pattern, so that a byte the builder skips shows.
			b := bytes.Repeat([]byte{0xa5}, EncapLen+len(tt.inner))
			PutVUDP(b, &tt.outer, len(tt.inner))
			copy(b[EncapLen:], tt.inner)
			if !bytes.Equal(b, tt.want) {
				t.Errorf("PutVUDP() =\n%x\nwant\n%x", b, tt.want)
			}
		})
	}
}

func TestGoldenVarp(t *testing.T) {
	tests := []struct {
		name       string
		frame      []byte
		outer      outerWant
		wantOpcode uint16
		wantAddr   [4]byte
		wantClass  Class
	}{
		{"request", goldenVarpRequest, outerWant{groupMAC, hostMAC1, host1, group, ProtoUDP, 0x0103, false, 71, Port}, VarpRequest, host1, ClassVarpRequest},
		{"announce", goldenVarpAnnounce, outerWant{hostMAC1, hostMAC2, host2, host1, ProtoUDP, 0x0201, false, 71, Port}, VarpAnnounce, host2, ClassVarpAnnounce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := checkOuter(t, tt.frame, tt.outer)
			if len(msg) != VarpLen {
				t.Errorf("VARP message length = %d, want %d", len(msg), VarpLen)
			}
			v, ok := ParseVarp(msg)
			if !ok {
				t.Fatalf("ParseVarp(%x) failed", msg)
			}
			if got := v.Opcode(); got != tt.wantOpcode {
				t.Errorf("Varp Opcode() = %d, want %d", got, tt.wantOpcode)
			}
			if got := v.Vnet(); got != vnet1500 {
				t.Errorf("Varp Vnet() = %v, want %v", got, vnet1500)
			}
			if got := v.MAC(); got != guestMAC {
				t.Errorf("Varp MAC() = %v, want %v", got, guestMAC)
			}
			if got := v.Family(); got != VarpFamilyIPv4 {
				t.Errorf("Varp Family() = %d, want %d", got, VarpFamilyIPv4)
			}
			if got := v.Addr(); got != tt.wantAddr {
				t.Errorf("Varp Addr() = %v, want %v", got, tt.wantAddr)
			}
			if c, r := Classify(tt.frame); c != tt.wantClass || r != ReasonNone {
				t.Errorf("Classify() = %v, %v, want %v, none", c, r, tt.wantClass)
			}
		})
	}
}

func TestGoldenVarpBuild(t *testing.T) {
	tests := []struct {
		name   string
		outer  Outer
		opcode uint16
		addr   [4]byte
		want   []byte
	}{
		{"request", Outer{EthDst: groupMAC, EthSrc: hostMAC1, Src: host1, Dst: group, TTL: DefaultTTL, ID: 0x0103, SrcPort: Port, Vnet: vnet1500}, VarpRequest, host1, goldenVarpRequest},
		{"announce", Outer{EthDst: hostMAC1, EthSrc: hostMAC2, Src: host2, Dst: host1, TTL: DefaultTTL, ID: 0x0201, SrcPort: Port, Vnet: vnet1500}, VarpAnnounce, host2, goldenVarpAnnounce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xa5}, VarpPacketLen+7)
			n := PutVarpPacket(b, &tt.outer, tt.opcode, guestMAC, tt.addr)
			if n != VarpPacketLen {
				t.Errorf("PutVarpPacket() = %d, want %d", n, VarpPacketLen)
			}
			if !bytes.Equal(b[:n], tt.want) {
				t.Errorf("PutVarpPacket() wrote\n%x\nwant\n%x", b[:n], tt.want)
			}
			if !bytes.Equal(b[n:], bytes.Repeat([]byte{0xa5}, 7)) {
				t.Errorf("PutVarpPacket() wrote beyond %d bytes: %x", n, b[n:])
			}

			// PutVarp alone writes the message part.
			m := bytes.Repeat([]byte{0xa5}, VarpLen)
			PutVarp(m, tt.opcode, vnet1500, guestMAC, tt.addr)
			if want := tt.want[VarpPacketLen-VarpLen:]; !bytes.Equal(m, want) {
				t.Errorf("PutVarp() = %x, want %x", m, want)
			}
		})
	}
}

func TestGoldenForward(t *testing.T) {
	tests := []struct {
		name           string
		frame          []byte
		outer          outerWant
		wantHeaderLen  int
		wantInnerLen   int // bytes from the inner IPv4 header to the end
		wantInnerMsgID uint16
	}{
		{"inner header intact", goldenForward, outerWant{peerMAC, hostMAC1, host1, peer, ProtoUDP, 0x0104, false, 20 + 8 + 4 + 71, Port}, 20, 71, MsgVARP},
		{"inner header synthesised", goldenForwardSynthesised, outerWant{peerMAC, hostMAC1, host1, peer, ProtoUDP, 0x0105, false, 20 + 8 + 4 + 20 + 8 + 4 + 18 + 42, Port}, 20, 20 + 8 + 4 + 18 + 42, MsgVUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := checkOuter(t, tt.frame, tt.outer)
			id, opcode, ok := ParseMsgHeader(msg)
			if !ok || id != MsgVFWD || opcode != 0 {
				t.Errorf("ParseMsgHeader(%x) = %d, %d, %v, want %d, 0, true", msg[:4], id, opcode, ok, MsgVFWD)
			}
			f, ok := ParseForward(msg[MsgHeaderLen:])
			if !ok {
				t.Fatalf("ParseForward(%x) failed", msg[MsgHeaderLen:])
			}
			if len(f) != tt.wantInnerLen {
				t.Errorf("len(Forward) = %d, want %d", len(f), tt.wantInnerLen)
			}
			if got := f.InnerHeaderLen(); got != tt.wantHeaderLen {
				t.Errorf("InnerHeaderLen() = %d, want %d", got, tt.wantHeaderLen)
			}
			if got := f.InnerSrc(); got != host5 {
				t.Errorf("InnerSrc() = %v, want %v", got, host5)
			}
			if got := f.InnerDst(); got != group {
				t.Errorf("InnerDst() = %v, want %v", got, group)
			}
			if got := f.InnerProtocol(); got != ProtoUDP {
				t.Errorf("InnerProtocol() = %d, want %d", got, ProtoUDP)
			}
			innerUDP := f.InnerUDP()
			if len(innerUDP) != tt.wantInnerLen-tt.wantHeaderLen {
				t.Errorf("len(InnerUDP()) = %d, want %d", len(innerUDP), tt.wantInnerLen-tt.wantHeaderLen)
			}
			if got := UDP(innerUDP).DstPort(); got != Port {
				t.Errorf("inner UDP DstPort() = %d, want %d", got, Port)
			}
			if got, _, _ := ParseMsgHeader(f.InnerMsg()); got != tt.wantInnerMsgID {
				t.Errorf("inner message id = %d, want %d", got, tt.wantInnerMsgID)
			}
			if c, r := Classify(tt.frame); c != ClassForward || r != ReasonNone {
				t.Errorf("Classify() = %v, %v, want forward, none", c, r)
			}
		})
	}
}

func TestGoldenForwardBuild(t *testing.T) {
	tests := []struct {
		name string
		id   uint16
		want []byte
	}{
		{"inner header intact", 0x0104, goldenForward},
		{"inner header synthesised", 0x0105, goldenForwardSynthesised},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Outer{EthDst: peerMAC, EthSrc: hostMAC1, Src: host1, Dst: peer, TTL: DefaultTTL, ID: tt.id, SrcPort: Port}
			inner := tt.want[ForwardEncapLen:]

			b := bytes.Repeat([]byte{0xa5}, len(tt.want))
			copy(b[ForwardEncapLen:], inner)
			if n := PutForwardFrame(b, &o, len(inner)); n != ForwardEncapLen {
				t.Errorf("PutForwardFrame() = %d, want %d", n, ForwardEncapLen)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("PutForwardFrame() =\n%x\nwant\n%x", b, tt.want)
			}

			// PutForwardHeader writes the same bytes without Ethernet.
			h := bytes.Repeat([]byte{0xa5}, len(tt.want)-EthHeaderLen)
			copy(h[ForwardHeaderLen:], inner)
			if n := PutForwardHeader(h, &o, len(inner)); n != ForwardHeaderLen {
				t.Errorf("PutForwardHeader() = %d, want %d", n, ForwardHeaderLen)
			}
			if !bytes.Equal(h, tt.want[EthHeaderLen:]) {
				t.Errorf("PutForwardHeader() =\n%x\nwant\n%x", h, tt.want[EthHeaderLen:])
			}
		})
	}
}

func TestGoldenEtherIP(t *testing.T) {
	payload := checkOuter(t, goldenEtherIP, outerWant{hostMAC2, hostMAC1, host1, host2, ProtoEtherIP, 0x0106, true, 20 + 18 + 42, 0})
	e, ok := ParseEtherIP(payload)
	if !ok {
		t.Fatalf("ParseEtherIP(%x) failed", payload)
	}
	if got := e.Vnet(); got != vnet1500 {
		t.Errorf("EtherIP Vnet() = %v, want %v", got, vnet1500)
	}
	if got := e.Frame(); !bytes.Equal(got, innerARP) {
		t.Errorf("EtherIP Frame() = %x, want %x", got, innerARP)
	}
	if c, r := Classify(goldenEtherIP); c != ClassEtherIP || r != ReasonNone {
		t.Errorf("Classify() = %v, %v, want etherip, none", c, r)
	}

	// PutEtherIP writes the header the packet carries.
	h := bytes.Repeat([]byte{0xa5}, EtherIPHeaderLen)
	PutEtherIP(h, vnet1500)
	if !bytes.Equal(h, payload[:EtherIPHeaderLen]) {
		t.Errorf("PutEtherIP() = %x, want %x", h, payload[:EtherIPHeaderLen])
	}
}

func TestGoldenInnerFramesChecksums(t *testing.T) {
	if !L4ChecksumValid(innerUDP) {
		t.Errorf("L4ChecksumValid(innerUDP) = false, want true")
	}
	ip, ok := ParseIPv4(innerUDP[EthHeaderLen:])
	if !ok || !ip.ChecksumValid() {
		t.Errorf("inner IPv4 header of innerUDP: parsed %v, checksum valid %v, want both true", ok, ok && ip.ChecksumValid())
	}
}
