package wire

import "testing"

func TestPerPacketFunctionsAllocateNothing(t *testing.T) {
	vudp := clone(goldenVUDPUnicast)
	varp := clone(goldenVarpRequest)
	fwd := clone(goldenForwardSynthesised)
	tcp := l4Frame{tags: []uint16{EtherTypeVLAN}, proto: ProtoTCP, payload: make([]byte, 1000)}
	tcpFrame, tcpOff := tcp.build()
	_, partial := tcp.checksums(tcpFrame, tcpOff)
	udp6 := l4Frame{ipv6: true, proto: ProtoUDP, payload: make([]byte, 333)}
	udp6Frame, _ := udp6.build()
	buf := make([]byte, 2048)
	o := &Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: DefaultTTL, SrcPort: Port, Vnet: vnet1500}

	tests := []struct {
		name string
		f    func()
	}{
		{"ParseEthernet and L3", func() {
			e, _ := ParseEthernet(vudp)
			_, _, _ = e.L3()
			_, _ = e.Dst(), e.Src()
		}},
		{"ParseIPv4 and accessors", func() {
			ip, _ := ParseIPv4(vudp[EthHeaderLen:])
			_, _, _ = ip.Src(), ip.Dst(), ip.ChecksumValid()
			_ = ip.IsFragment()
		}},
		{"ParseUDP", func() {
			u, _ := ParseUDP(vudp[offUDP:])
			_ = u.Payload()
		}},
		{"ParseMsgHeader", func() { _, _, _ = ParseMsgHeader(vudp[offMsg:]) }},
		{"ParseEtherIP", func() {
			e, _ := ParseEtherIP(vudp[offInner:])
			_, _ = e.Vnet(), e.Frame()
		}},
		{"ParseVarp", func() {
			v, _ := ParseVarp(varp[offInner-MsgHeaderLen:])
			_, _, _ = v.Vnet(), v.MAC(), v.Addr()
		}},
		{"ParseForward", func() {
			f, _ := ParseForward(fwd[offInner:])
			_, _, _ = f.InnerSrc(), f.InnerDst(), f.InnerMsg()
		}},
		{"Classify", func() {
			_, _ = Classify(vudp)
			_, _ = Classify(varp)
			_, _ = Classify(fwd)
		}},
		{"PutVUDP", func() { PutVUDP(buf, o, 1000) }},
		{"PutVarpPacket", func() { _ = PutVarpPacket(buf, o, VarpAnnounce, guestMAC, host1) }},
		{"PutForwardFrame", func() { _ = PutForwardFrame(buf, o, 100) }},
		{"Checksum", func() { _ = Fold(Checksum(buf[:1500], 0)) }},
		{"IPv4HeaderChecksum", func() { _ = IPv4HeaderChecksum(vudp[offIP:offUDP]) }},
		{"CompleteL4Checksum", func() {
			putField(tcpFrame, tcpOff, partial)
			_ = CompleteL4Checksum(tcpFrame)
		}},
		{"L4ChecksumValid", func() {
			_ = L4ChecksumValid(tcpFrame)
			_ = L4ChecksumValid(udp6Frame)
		}},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tt.name, n)
		}
	}
}
