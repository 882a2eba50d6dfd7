package wire

import (
	"bytes"
	"testing"
)

func TestParseEthernet(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"empty", nil, false},
		{"13 bytes", make([]byte, 13), false},
		{"header only", make([]byte, 14), true},
		{"with payload", make([]byte, 60), true},
	}
	for _, tt := range tests {
		e, ok := ParseEthernet(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ParseEthernet(%x) ok = %v, want %v", tt.name, tt.b, ok, tt.ok)
		}
		if ok && len(e) != len(tt.b) {
			t.Errorf("%s: ParseEthernet(%x) len = %d, want %d", tt.name, tt.b, len(e), len(tt.b))
		}
	}
}

func TestEthernetAccessors(t *testing.T) {
	b := mustHex("0100 5e0a 0001 2a8c 92d0 9d18 0800 4500")
	e, _ := ParseEthernet(b)
	if got, want := e.Dst(), (MAC{0x01, 0x00, 0x5e, 0x0a, 0x00, 0x01}); got != want {
		t.Errorf("Dst() = %v, want %v", got, want)
	}
	if got, want := e.Src(), (MAC{0x2a, 0x8c, 0x92, 0xd0, 0x9d, 0x18}); got != want {
		t.Errorf("Src() = %v, want %v", got, want)
	}
	if got := e.EtherType(); got != EtherTypeIPv4 {
		t.Errorf("EtherType() = %#04x, want %#04x", got, EtherTypeIPv4)
	}
	if got := e.Payload(); !bytes.Equal(got, []byte{0x45, 0x00}) {
		t.Errorf("Payload() = %x, want 4500", got)
	}

	e.SetDst(hostMAC2)
	e.SetSrc(hostMAC1)
	e.SetEtherType(EtherTypeIPv6)
	want := mustHex("0200 0000 0002 0200 0000 0001 86dd 4500")
	if !bytes.Equal(b, want) {
		t.Errorf("after setters frame = %x, want %x", b, want)
	}
}

func TestEthernetL3(t *testing.T) {
	macs := "ffffffffffff 020000000001"
	tests := []struct {
		name       string
		frame      string
		wantType   uint16
		wantOffset int
		wantOK     bool
	}{
		{"untagged IPv4", macs + "0800 45", EtherTypeIPv4, 14, true},
		{"untagged ARP", macs + "0806", EtherTypeARP, 14, true},
		{"802.1Q", macs + "8100 0064 0800 45", EtherTypeIPv4, 18, true},
		{"802.1ad then 802.1Q", macs + "88a8 0064 8100 00c8 86dd 60", EtherTypeIPv6, 22, true},
		{"two 802.1Q tags", macs + "8100 0064 8100 00c8 0800", EtherTypeIPv4, 22, true},
		{"three tags stop after two", macs + "8100 0001 8100 0002 8100 0003 0800", EtherTypeVLAN, 22, true},
		{"tag cut short", macs + "8100 0064 08", 0, 0, false},
		{"second tag cut short", macs + "88a8 0064 8100 00", 0, 0, false},
		{"tag with nothing after", macs + "8100", 0, 0, false},
	}
	for _, tt := range tests {
		b := mustHex(tt.frame)
		e, ok := ParseEthernet(b)
		if !ok {
			t.Fatalf("%s: ParseEthernet(%x) failed", tt.name, b)
		}
		et, off, ok := e.L3()
		if ok != tt.wantOK || et != tt.wantType || off != tt.wantOffset {
			t.Errorf("%s: L3(%x) = %#04x, %d, %v, want %#04x, %d, %v", tt.name, b, et, off, ok, tt.wantType, tt.wantOffset, tt.wantOK)
		}
	}

	// A view that was not parsed may be short; L3 must not panic.
	if _, _, ok := Ethernet(make([]byte, 5)).L3(); ok {
		t.Errorf("L3 of a 5-byte view ok = true, want false")
	}
}

func TestMulticastMAC(t *testing.T) {
	tests := []struct {
		group [4]byte
		want  MAC
	}{
		{[4]byte{224, 10, 0, 1}, MAC{0x01, 0x00, 0x5e, 0x0a, 0x00, 0x01}},
		{[4]byte{239, 255, 255, 250}, MAC{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa}},
		// The high bit of the second byte is not mapped (RFC 1112).
		{[4]byte{224, 138, 0, 1}, MAC{0x01, 0x00, 0x5e, 0x0a, 0x00, 0x01}},
		{[4]byte{224, 0, 0, 22}, MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x16}},
	}
	for _, tt := range tests {
		if got := MulticastMAC(tt.group); got != tt.want {
			t.Errorf("MulticastMAC(%v) = %v, want %v", tt.group, got, tt.want)
		}
	}
	if got, want := MulticastMAC(DefaultGroup.As4()), groupMAC; got != want {
		t.Errorf("MulticastMAC(DefaultGroup) = %v, want %v", got, want)
	}
}

// ipv4Header is a valid 20-byte header (capture frame 5): total length 92,
// ID 0x230e, DF, TTL 1, UDP, 198.18.0.1 to 224.10.0.1.
const ipv4Header = "4500 005c 230e 4000 0111 b064 c6120001 e00a0001"

func TestParseIPv4(t *testing.T) {
	valid := mustHex(ipv4Header)
	withPayload := func(header []byte, n int) []byte { return append(clone(header), make([]byte, n)...) }
	set := func(b []byte, i int, v ...byte) []byte { b = clone(b); copy(b[i:], v); return b }

	tests := []struct {
		name    string
		b       []byte
		ok      bool
		wantLen int
	}{
		{"exact", withPayload(valid, 72), true, 92},
		{"Ethernet padding cut", withPayload(valid, 80), true, 92},
		{"payload missing", withPayload(valid, 71), false, 0},
		{"header only", clone(valid), false, 0},
		{"19 bytes", valid[:19], false, 0},
		{"empty", nil, false, 0},
		{"version 6", withPayload(set(valid, 0, 0x65), 72), false, 0},
		{"version 0", withPayload(set(valid, 0, 0x05), 72), false, 0},
		{"IHL 4", withPayload(set(valid, 0, 0x44), 72), false, 0},
		{"IHL 0", withPayload(set(valid, 0, 0x40), 72), false, 0},
		{"IHL 6 with option", withPayload(set(valid, 0, 0x46), 72), true, 92},
		{"IHL 15 beyond total length", withPayload(set(valid, 0, 0x4f, 0, 0, 40), 40), false, 0},
		{"IHL 15 beyond buffer", set(valid, 0, 0x4f, 0, 0, 60)[:20], false, 0},
		{"total length below header", withPayload(set(valid, 2, 0, 19), 72), false, 0},
		{"total length equals header", set(valid, 2, 0, 20), true, 20},
		{"total length 0", withPayload(set(valid, 2, 0, 0), 72), false, 0},
	}
	for _, tt := range tests {
		ip, ok := ParseIPv4(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ParseIPv4(%x) ok = %v, want %v", tt.name, tt.b, ok, tt.ok)
			continue
		}
		if ok && len(ip) != tt.wantLen {
			t.Errorf("%s: ParseIPv4(%x) len = %d, want %d", tt.name, tt.b, len(ip), tt.wantLen)
		}
	}
}

func TestIPv4Accessors(t *testing.T) {
	b := append(mustHex(ipv4Header), make([]byte, 72)...)
	ip, ok := ParseIPv4(b)
	if !ok {
		t.Fatalf("ParseIPv4(%x) failed", b)
	}
	if got := ip.HeaderLen(); got != 20 {
		t.Errorf("HeaderLen() = %d, want 20", got)
	}
	if got := ip.TotalLen(); got != 92 {
		t.Errorf("TotalLen() = %d, want 92", got)
	}
	if got := ip.ID(); got != 0x230e {
		t.Errorf("ID() = %#04x, want 0x230e", got)
	}
	if got := ip.TTL(); got != 1 {
		t.Errorf("TTL() = %d, want 1", got)
	}
	if got := ip.Protocol(); got != ProtoUDP {
		t.Errorf("Protocol() = %d, want %d", got, ProtoUDP)
	}
	if got := ip.Checksum(); got != 0xb064 {
		t.Errorf("Checksum() = %#04x, want 0xb064", got)
	}
	if got := ip.Src(); got != host1 {
		t.Errorf("Src() = %v, want %v", got, host1)
	}
	if got := ip.Dst(); got != group {
		t.Errorf("Dst() = %v, want %v", got, group)
	}
	if got := len(ip.Payload()); got != 72 {
		t.Errorf("len(Payload()) = %d, want 72", got)
	}
	if !ip.ChecksumValid() {
		t.Errorf("ChecksumValid() = false, want true")
	}

	ip.SetTTL(64)
	ip.SetSrc(host2)
	ip.SetDst(host5)
	if ip.ChecksumValid() {
		t.Errorf("ChecksumValid() after changes = true, want false")
	}
	ip.UpdateChecksum()
	if !ip.ChecksumValid() {
		t.Errorf("ChecksumValid() after UpdateChecksum = false, want true")
	}
	if ip.TTL() != 64 || ip.Src() != host2 || ip.Dst() != host5 {
		t.Errorf("after setters TTL, Src, Dst = %d, %v, %v, want 64, %v, %v", ip.TTL(), ip.Src(), ip.Dst(), host2, host5)
	}
}

func TestIPv4Fragments(t *testing.T) {
	tests := []struct {
		name       string
		flagsFrag  uint16
		wantDF     bool
		wantMF     bool
		wantOffset int
		wantFrag   bool
	}{
		{"none", 0x0000, false, false, 0, false},
		{"DF", 0x4000, true, false, 0, false},
		{"first fragment", 0x2000, false, true, 0, true},
		{"middle fragment", 0x20b9, false, true, 1480, true},
		{"last fragment", 0x00b9, false, false, 1480, true},
		{"maximum offset", 0x1fff, false, false, 65528, true},
		{"reserved bit alone", 0x8000, false, false, 0, false},
	}
	for _, tt := range tests {
		b := append(mustHex(ipv4Header), make([]byte, 72)...)
		b[6], b[7] = byte(tt.flagsFrag>>8), byte(tt.flagsFrag)
		ip, ok := ParseIPv4(b)
		if !ok {
			t.Fatalf("%s: ParseIPv4 failed", tt.name)
		}
		if got := ip.DontFragment(); got != tt.wantDF {
			t.Errorf("%s: DontFragment() = %v, want %v", tt.name, got, tt.wantDF)
		}
		if got := ip.MoreFragments(); got != tt.wantMF {
			t.Errorf("%s: MoreFragments() = %v, want %v", tt.name, got, tt.wantMF)
		}
		if got := ip.FragmentOffset(); got != tt.wantOffset {
			t.Errorf("%s: FragmentOffset() = %d, want %d", tt.name, got, tt.wantOffset)
		}
		if got := ip.IsFragment(); got != tt.wantFrag {
			t.Errorf("%s: IsFragment() = %v, want %v", tt.name, got, tt.wantFrag)
		}
	}
}

func TestParseUDP(t *testing.T) {
	tests := []struct {
		name    string
		b       string
		ok      bool
		wantLen int
	}{
		{"header only", "0706 0706 0008 0000", true, 8},
		{"with payload", "0706 0706 000c 1234 00020000", true, 12},
		{"trailing bytes cut", "0706 0706 000a 0000 0102 0304", true, 10},
		{"7 bytes", "0706 0706 0008 00", false, 0},
		{"length 7", "0706 0706 0007 0000", false, 0},
		{"length 0", "0706 0706 0000 0000 0000", false, 0},
		{"length beyond buffer", "0706 0706 000d 0000 00020000", false, 0},
	}
	for _, tt := range tests {
		b := mustHex(tt.b)
		u, ok := ParseUDP(b)
		if ok != tt.ok {
			t.Errorf("%s: ParseUDP(%x) ok = %v, want %v", tt.name, b, ok, tt.ok)
			continue
		}
		if ok && len(u) != tt.wantLen {
			t.Errorf("%s: ParseUDP(%x) len = %d, want %d", tt.name, b, len(u), tt.wantLen)
		}
	}
}

func TestUDPAccessors(t *testing.T) {
	b := mustHex("9ff8 0706 000c 8c6c 00010001")
	u, ok := ParseUDP(b)
	if !ok {
		t.Fatalf("ParseUDP(%x) failed", b)
	}
	if got := u.SrcPort(); got != 40952 {
		t.Errorf("SrcPort() = %d, want 40952", got)
	}
	if got := u.DstPort(); got != Port {
		t.Errorf("DstPort() = %d, want %d", got, Port)
	}
	if got := u.Length(); got != 12 {
		t.Errorf("Length() = %d, want 12", got)
	}
	if got := u.Checksum(); got != 0x8c6c {
		t.Errorf("Checksum() = %#04x, want 0x8c6c", got)
	}
	if got := u.Payload(); !bytes.Equal(got, []byte{0, 1, 0, 1}) {
		t.Errorf("Payload() = %x, want 00010001", got)
	}
}
