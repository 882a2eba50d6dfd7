package wire

import (
	"bytes"
	"testing"
)

func TestParseMsgHeader(t *testing.T) {
	tests := []struct {
		b          string
		wantID     uint16
		wantOpcode uint16
		wantOK     bool
	}{
		{"0001 0002", MsgVARP, VarpAnnounce, true},
		{"0002 0000 0040", MsgVUDP, 0, true},
		{"0003 0000", MsgVFWD, 0, true},
		{"00c8 0001", 200, 1, true},
		{"0002 00", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		b := mustHex(tt.b)
		id, opcode, ok := ParseMsgHeader(b)
		if id != tt.wantID || opcode != tt.wantOpcode || ok != tt.wantOK {
			t.Errorf("ParseMsgHeader(%x) = %d, %d, %v, want %d, %d, %v", b, id, opcode, ok, tt.wantID, tt.wantOpcode, tt.wantOK)
		}
	}
}

func TestPutMsgHeader(t *testing.T) {
	b := make([]byte, 6)
	PutMsgHeader(b, MsgVFWD, 0x0102)
	if want := mustHex("0003 0102 0000"); !bytes.Equal(b, want) {
		t.Errorf("PutMsgHeader(VFWD, 0x0102) wrote %x, want %x", b, want)
	}
}

// etherIPMessage returns an EtherIP header with the given version word for
// vnet 1500, followed by the 42-byte innerARP frame.
func etherIPMessage(word string) []byte {
	return append(mustHex(word+"0000 0000 0000 0000 0000 0000 0000 1500"), innerARP...)
}

func TestParseEtherIP(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"x86 sender 00 40", etherIPMessage("0040"), true},
		{"reserved bits 0f 4f", etherIPMessage("0f4f"), true},
		{"reserved bits ff 4f", etherIPMessage("ff4f"), true},
		{"big-endian sender 40 00", etherIPMessage("4000"), false},
		{"RFC 3378 version 3 00 30", etherIPMessage("0030"), false},
		{"RFC 3378 header 30 00", etherIPMessage("3000"), false},
		{"version 5", etherIPMessage("0050"), false},
		{"inner Ethernet header exactly", etherIPMessage("0040")[:32], true},
		{"inner Ethernet header cut", etherIPMessage("0040")[:31], false},
		{"header only", etherIPMessage("0040")[:18], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		e, ok := ParseEtherIP(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ParseEtherIP(%x) ok = %v, want %v", tt.name, tt.b, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if got := e.Vnet(); got != vnet1500 {
			t.Errorf("%s: Vnet() = %v, want %v", tt.name, got, vnet1500)
		}
		if got := e.Frame(); !bytes.Equal(got, tt.b[18:]) {
			t.Errorf("%s: Frame() = %x, want %x", tt.name, got, tt.b[18:])
		}
	}
}

func TestPutEtherIPFullID(t *testing.T) {
	id, err := ParseVnetID("1:2:3:4:5:6:7:8")
	if err != nil {
		t.Fatalf("ParseVnetID: %v", err)
	}
	b := bytes.Repeat([]byte{0xff}, 18)
	PutEtherIP(b, id)
	want := mustHex("0040 0001 0002 0003 0004 0005 0006 0007 0008")
	if !bytes.Equal(b, want) {
		t.Errorf("PutEtherIP(%v) wrote %x, want %x", id, b, want)
	}
}

// varpMessage is the announce of capture frame 22.
const varpMessage = "0001 0002 0000000000000000000000000000 1500 d66cf53d513d 02 c6120002 000000000000000000000000"

func TestParseVarp(t *testing.T) {
	valid := mustHex(varpMessage)
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"43 bytes", valid, true},
		{"trailing bytes ignored", append(clone(valid), 1, 2, 3), true},
		{"42 bytes", valid[:42], false},
		{"14 bytes", valid[:14], false},
		{"empty", nil, false},
		{"message id 2", append(mustHex("0002"), valid[2:]...), false},
		{"message id 0x0100", append(mustHex("0100"), valid[2:]...), false},
		{"unknown opcode parses", append(mustHex("0001 0007"), valid[4:]...), true},
	}
	for _, tt := range tests {
		v, ok := ParseVarp(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ParseVarp(%x) ok = %v, want %v", tt.name, tt.b, ok, tt.ok)
			continue
		}
		if ok && len(v) != VarpLen {
			t.Errorf("%s: ParseVarp(%x) len = %d, want %d", tt.name, tt.b, len(v), VarpLen)
		}
	}
}

func TestPutVarpZeroesAddressTail(t *testing.T) {
	b := bytes.Repeat([]byte{0xee}, VarpLen+2)
	PutVarp(b, VarpAnnounce, vnet1500, guestMAC, host2)
	if want := mustHex(varpMessage); !bytes.Equal(b[:VarpLen], want) {
		t.Errorf("PutVarp() wrote %x, want %x", b[:VarpLen], want)
	}
	if b[VarpLen] != 0xee || b[VarpLen+1] != 0xee {
		t.Errorf("PutVarp() wrote beyond 43 bytes: %x", b[VarpLen:])
	}
}

// forwardInner builds the bytes after a VFWD message header: an inner IPv4
// header from the given hex, an 8-byte UDP header and a VARP message.
func forwardInner(ipHeader string) []byte {
	b := mustHex(ipHeader)
	b = append(b, mustHex("0706 0706 0033 0000")...)
	return append(b, mustHex(varpMessage)...)
}

func TestParseForward(t *testing.T) {
	const (
		real      = "4500 0047 0501 0000 4011 cf82 c6120005 e00a0001"
		synth     = "0000 0000 0000 0000 0011 0000 c6120005 e00a0001"
		withOpt   = "4600 004b 0000 0000 4011 0000 c6120005 e00a0001 94040000"
		ihl0ver4  = "4000 0000 0000 0000 0011 0000 c6120005 e00a0001"
		proto0    = "4500 0000 0000 0000 0000 0000 c6120005 e00a0001"
		version6  = "6500 0047 0000 0000 4011 0000 c6120005 e00a0001"
		ihl3      = "0300 0000 0000 0000 0011 0000 c6120005 e00a0001"
		longTotal = "4500 0048 0501 0000 4011 0000 c6120005 e00a0001"
		cutTotal  = "4500 001f 0501 0000 4011 0000 c6120005 e00a0001"
		total1    = "4500 0001 0501 0000 4011 0000 c6120005 e00a0001"
	)
	tests := []struct {
		name          string
		b             []byte
		ok            bool
		wantLen       int
		wantHeaderLen int
	}{
		{"inner header intact", forwardInner(real), true, 71, 20},
		{"inner header synthesised", forwardInner(synth), true, 71, 20},
		{"synthesised with trailing bytes kept", append(forwardInner(synth), 9), true, 72, 20},
		{"intact with trailing bytes cut", append(forwardInner(real), 9), true, 71, 20},
		{"inner header with option", forwardInner(withOpt), true, 75, 24},
		{"IHL 0 with version 4", forwardInner(ihl0ver4), true, 71, 20},
		{"inner protocol 0 (capture frame 34)", mustHex("4500 0000 0000 0000 0000 0000 c6120001 c6120002"), false, 0, 0},
		{"inner protocol 0 with UDP", forwardInner(proto0), false, 0, 0},
		{"version 6", forwardInner(version6), false, 0, 0},
		{"IHL 3", forwardInner(ihl3), false, 0, 0},
		{"total length beyond buffer", forwardInner(longTotal), false, 0, 0},
		{"total length without message header", forwardInner(cutTotal), false, 0, 0},
		{"total length 1", forwardInner(total1), false, 0, 0},
		{"UDP and message header exactly", forwardInner(synth)[:32], true, 32, 20},
		{"message header cut", forwardInner(synth)[:31], false, 0, 0},
		{"UDP header cut", forwardInner(synth)[:27], false, 0, 0},
		{"19 bytes", forwardInner(synth)[:19], false, 0, 0},
		{"empty", nil, false, 0, 0},
	}
	for _, tt := range tests {
		f, ok := ParseForward(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ParseForward(%x) ok = %v, want %v", tt.name, tt.b, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if len(f) != tt.wantLen {
			t.Errorf("%s: ParseForward(%x) len = %d, want %d", tt.name, tt.b, len(f), tt.wantLen)
		}
		if got := f.InnerHeaderLen(); got != tt.wantHeaderLen {
			t.Errorf("%s: InnerHeaderLen() = %d, want %d", tt.name, got, tt.wantHeaderLen)
		}
		if got := f.InnerSrc(); got != host5 {
			t.Errorf("%s: InnerSrc() = %v, want %v", tt.name, got, host5)
		}
		if got := f.InnerDst(); got != group {
			t.Errorf("%s: InnerDst() = %v, want %v", tt.name, got, group)
		}
		if got := f.InnerProtocol(); got != ProtoUDP {
			t.Errorf("%s: InnerProtocol() = %d, want %d", tt.name, got, ProtoUDP)
		}
		if got := f.InnerUDP(); !bytes.Equal(got, f[tt.wantHeaderLen:]) || UDP(got).DstPort() != Port {
			t.Errorf("%s: InnerUDP() = %x, want %x", tt.name, got, f[tt.wantHeaderLen:])
		}
		if got, _, ok := ParseMsgHeader(f.InnerMsg()); !ok || got != MsgVARP {
			t.Errorf("%s: inner message id = %d, %v, want %d, true", tt.name, got, ok, MsgVARP)
		}
	}
}

func TestForwardSetInnerAddresses(t *testing.T) {
	b := forwardInner("0000 0000 0000 0000 0011 0000 00000000 e00a0009")
	f, ok := ParseForward(b)
	if !ok {
		t.Fatalf("ParseForward(%x) failed", b)
	}
	f.SetInnerSrc(peer)
	f.SetInnerDst(group)
	if got := f.InnerSrc(); got != peer {
		t.Errorf("InnerSrc() after SetInnerSrc = %v, want %v", got, peer)
	}
	if got := f.InnerDst(); got != group {
		t.Errorf("InnerDst() after SetInnerDst = %v, want %v", got, group)
	}
}
