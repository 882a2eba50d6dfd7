package wire

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPutVUDPFields(t *testing.T) {
	id, _ := ParseVnetID("1:2:3:4:5:6:7:8")
	o := Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: 1, ID: 0xbeef, DontFragment: true, SrcPort: 49152, Vnet: id}
	inner := make([]byte, 1450)
	b := make([]byte, EncapLen+len(inner))
	PutVUDP(b, &o, len(inner))

	if c, r := Classify(b); c != ClassDataUnicast || r != ReasonNone {
		t.Errorf("Classify() = %v, %v, want data_unicast, none", c, r)
	}
	ip, ok := ParseIPv4(b[EthHeaderLen:])
	if !ok {
		t.Fatalf("ParseIPv4 failed")
	}
	if got := ip.TotalLen(); got != 1500 {
		t.Errorf("TotalLen() = %d, want 1500 for a 1450-byte inner frame", got)
	}
	if !ip.DontFragment() {
		t.Errorf("DontFragment() = false, want true")
	}
	if got := ip.TTL(); got != 1 {
		t.Errorf("TTL() = %d, want 1", got)
	}
	if got := ip.ID(); got != 0xbeef {
		t.Errorf("ID() = %#04x, want 0xbeef", got)
	}
	if !ip.ChecksumValid() {
		t.Errorf("ChecksumValid() = false, want true")
	}
	udp, _ := ParseUDP(ip.Payload())
	if got := udp.SrcPort(); got != 49152 {
		t.Errorf("SrcPort() = %d, want 49152", got)
	}
	if got := udp.Length(); got != 1480 {
		t.Errorf("UDP Length() = %d, want 1480", got)
	}
	e, _ := ParseEtherIP(udp.Payload()[MsgHeaderLen:])
	if got := e.Vnet(); got != id {
		t.Errorf("Vnet() = %v, want %v", got, id)
	}
}

func TestPutVUDPMaxInnerLen(t *testing.T) {
	o := Outer{TTL: DefaultTTL}
	b := make([]byte, EncapLen+MaxInnerLen)
	PutVUDP(b, &o, MaxInnerLen)
	ip, ok := ParseIPv4(b[EthHeaderLen:])
	if !ok {
		t.Fatalf("ParseIPv4 of a maximum-size packet failed")
	}
	if got := ip.TotalLen(); got != 0xffff {
		t.Errorf("TotalLen() = %d, want 65535", got)
	}
}

// expectPanic runs f and reports an error unless it panics.
func expectPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", name)
		}
	}()
	f()
}

func TestBuildersPanicOnMisuse(t *testing.T) {
	o := &Outer{}
	expectPanic(t, "PutVUDP with 63 bytes", func() { PutVUDP(make([]byte, 63), o, 0) })
	expectPanic(t, "PutVUDP with innerLen -1", func() { PutVUDP(make([]byte, 64), o, -1) })
	expectPanic(t, "PutVUDP with innerLen above MaxInnerLen", func() { PutVUDP(make([]byte, 64), o, MaxInnerLen+1) })
	expectPanic(t, "PutVarpPacket with 84 bytes", func() { PutVarpPacket(make([]byte, 84), o, VarpRequest, MAC{}, [4]byte{}) })
	expectPanic(t, "PutVarp with 42 bytes", func() { PutVarp(make([]byte, 42), VarpRequest, VnetID{}, MAC{}, [4]byte{}) })
	expectPanic(t, "PutForwardHeader with 31 bytes", func() { PutForwardHeader(make([]byte, 31), o, 0) })
	expectPanic(t, "PutForwardHeader with innerLen too large", func() { PutForwardHeader(make([]byte, 32), o, 0xffff-31) })
	expectPanic(t, "PutForwardFrame with 45 bytes", func() { PutForwardFrame(make([]byte, 45), o, 0) })
	expectPanic(t, "PutEtherIP with 17 bytes", func() { PutEtherIP(make([]byte, 17), VnetID{}) })
	expectPanic(t, "PutMsgHeader with 3 bytes", func() { PutMsgHeader(make([]byte, 3), 1, 1) })
}

func TestConstants(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"EncapLen", EncapLen, 64},
		{"EtherIPEncapLen", EtherIPEncapLen, 52},
		{"VarpPacketLen", VarpPacketLen, 85},
		{"ForwardHeaderLen", ForwardHeaderLen, 32},
		{"ForwardEncapLen", ForwardEncapLen, 46},
		{"MaxInnerLen", MaxInnerLen, 65485},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	if got := DefaultGroup.String(); got != "224.10.0.1" {
		t.Errorf("DefaultGroup = %s, want 224.10.0.1", got)
	}
}

func TestCheckGroup(t *testing.T) {
	tests := []struct {
		addr string
		want string // part of the error, "" for none
	}{
		{"224.10.0.1", ""},
		{"239.255.255.255", ""},
		{"224.0.1.0", ""},
		{"224.0.0.1", "224.0.0.0/24"},
		{"224.0.0.255", "224.0.0.0/24"},
		{"198.18.0.1", "not an IPv4 multicast group"},
		{"ff02::1", "not an IPv4 multicast group"},
	}
	for _, tt := range tests {
		err := CheckGroup(netip.MustParseAddr(tt.addr))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckGroup(%s) = %v, want an error containing %q", tt.addr, err, tt.want)
		}
	}
}
