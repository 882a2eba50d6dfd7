package bench

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

var (
	epA = Endpoint{MAC: wire.MAC{2, 0, 0, 0, 0, 1}, Addr: [4]byte{198, 18, 0, 1}, Port: 50000}
	epB = Endpoint{MAC: wire.MAC{2, 0, 0, 0, 0, 2}, Addr: [4]byte{198, 18, 0, 2}, Port: 9}
)

// udpChecksumOK verifies the UDP checksum of an IPv4 frame from
// UDPFrame: the sum over the pseudo header and datagram folds to 0xffff.
func udpChecksumOK(f []byte) bool {
	ip := f[wire.EthHeaderLen:]
	udp := ip[wire.IPv4HeaderLen:]
	var pseudo [12]byte
	copy(pseudo[0:8], ip[12:20])
	pseudo[9] = wire.ProtoUDP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(udp)))
	return wire.Fold(wire.Checksum(udp, wire.Checksum(pseudo[:], 0))) == 0xffff
}

func TestUDPFrame(t *testing.T) {
	for _, size := range []int{42, 60, 512, 1514} {
		f, err := UDPFrame(size, epA, epB)
		if err != nil {
			t.Fatalf("UDPFrame(%d) = %v", size, err)
		}
		if len(f) != size {
			t.Errorf("UDPFrame(%d) has %d bytes, want %d", size, len(f), size)
		}
		ip, ok := wire.ParseIPv4(f[wire.EthHeaderLen:])
		if !ok {
			t.Fatalf("UDPFrame(%d): ParseIPv4(%x) failed", size, f[wire.EthHeaderLen:])
		}
		if got := wire.Fold(wire.Checksum(f[wire.EthHeaderLen:wire.EthHeaderLen+wire.IPv4HeaderLen], 0)); got != 0xffff {
			t.Errorf("UDPFrame(%d): IPv4 header sums to %#x, want 0xffff", size, got)
		}
		if ip.Src() != epA.Addr || ip.Dst() != epB.Addr {
			t.Errorf("UDPFrame(%d): addresses %v -> %v, want %v -> %v", size, ip.Src(), ip.Dst(), epA.Addr, epB.Addr)
		}
		if !udpChecksumOK(f) {
			t.Errorf("UDPFrame(%d): UDP checksum %x is wrong", size, f[40:42])
		}
		if !bytes.Equal(f[0:6], epB.MAC[:]) || !bytes.Equal(f[6:12], epA.MAC[:]) {
			t.Errorf("UDPFrame(%d): MACs %x, want %x then %x", size, f[:12], epB.MAC, epA.MAC)
		}
	}
}

func TestUDPFrameRejectsSizes(t *testing.T) {
	for _, size := range []int{0, 41, 9001} {
		if _, err := UDPFrame(size, epA, epB); err == nil {
			t.Errorf("UDPFrame(%d) = nil error, want an invalid size", size)
		}
	}
}

func TestVUDPFrame(t *testing.T) {
	inner, err := UDPFrame(60, epA, epB)
	if err != nil {
		t.Fatal(err)
	}
	id := wire.VnetIDFromUint16(0x1500)
	f := VUDPFrame(inner, epB, epA, id)
	if len(f) != wire.EncapLen+len(inner) {
		t.Fatalf("VUDPFrame length = %d, want %d", len(f), wire.EncapLen+len(inner))
	}
	ip, ok := wire.ParseIPv4(f[wire.EthHeaderLen:])
	if !ok {
		t.Fatalf("ParseIPv4(%x) failed", f[wire.EthHeaderLen:])
	}
	udp, ok := wire.ParseUDP(ip.Payload())
	if !ok {
		t.Fatalf("ParseUDP(%x) failed", ip.Payload())
	}
	if udp.DstPort() != wire.Port {
		t.Errorf("destination port = %d, want %d", udp.DstPort(), wire.Port)
	}
	e, ok := wire.ParseEtherIP(udp.Payload()[wire.MsgHeaderLen:])
	if !ok {
		t.Fatalf("ParseEtherIP(%x) failed", udp.Payload()[wire.MsgHeaderLen:])
	}
	if e.Vnet() != id {
		t.Errorf("vnet = %v, want %v", e.Vnet(), id)
	}
	if !bytes.Equal(e.Frame(), inner) {
		t.Errorf("inner frame = %x, want %x", e.Frame(), inner)
	}
}

func TestVXLANFrame(t *testing.T) {
	inner, err := UDPFrame(60, epA, epB)
	if err != nil {
		t.Fatal(err)
	}
	f := VXLANFrame(inner, epB, epA, 42)
	if len(f) != VXLANEncapLen+len(inner) {
		t.Fatalf("VXLANFrame length = %d, want %d", len(f), VXLANEncapLen+len(inner))
	}
	if got := wire.Fold(wire.Checksum(f[14:34], 0)); got != 0xffff {
		t.Errorf("outer IPv4 header sums to %#x, want 0xffff", got)
	}
	if got := binary.BigEndian.Uint16(f[36:38]); got != VXLANPort {
		t.Errorf("UDP destination port = %d, want %d", got, VXLANPort)
	}
	if got := binary.BigEndian.Uint16(f[38:40]); int(got) != len(f)-34 {
		t.Errorf("UDP length = %d, want %d", got, len(f)-34)
	}
	if f[42] != 0x08 {
		t.Errorf("VXLAN flags = %#x, want 0x08", f[42])
	}
	if vni := uint32(f[46])<<16 | uint32(f[47])<<8 | uint32(f[48]); vni != 42 {
		t.Errorf("VNI = %d, want 42", vni)
	}
	if !bytes.Equal(f[VXLANEncapLen:], inner) {
		t.Errorf("inner frame = %x, want %x", f[VXLANEncapLen:], inner)
	}
}

// TestSealedVUDPFrame opens a sealed frame with the vnet's key, as vnetd
// does, and finds the VUDP payload; a second copy is a replay.
func TestSealedVUDPFrame(t *testing.T) {
	inner, err := UDPFrame(60, epA, epB)
	if err != nil {
		t.Fatal(err)
	}
	id := wire.VnetIDFromUint16(0x1500)
	f := VUDPFrame(inner, epB, epA, id)
	psk := bytes.Repeat([]byte{0x42}, 32)
	for _, mode := range []esp.Mode{esp.ModeAuth, esp.ModeConf} {
		sealed, err := SealedVUDPFrame(f, mode, psk)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		sad := esp.NewSAD(esp.Config{})
		key, err := esp.NewKey(id, mode, psk)
		if err != nil {
			t.Fatal(err)
		}
		if err := sad.Add(key); err != nil {
			t.Fatal(err)
		}
		o := sad.NewOpener()
		again := bytes.Clone(sealed)
		res := o.Open(sealed[wire.EthHeaderLen:])
		if res.Reason != esp.ReasonNone {
			t.Fatalf("%v: Open = %v, want accepted", mode, res.Reason)
		}
		payload := sealed[wire.EthHeaderLen+res.Offset:][:res.Length]
		want := f[wire.EthHeaderLen+wire.IPv4HeaderLen:]
		if res.Vnet != id || res.NextHeader != wire.ProtoUDP || !bytes.Equal(payload, want) {
			t.Errorf("%v: opened vnet %v, next header %d, payload %x, want %v, %d, %x", mode, res.Vnet, res.NextHeader, payload, id, wire.ProtoUDP, want)
		}
		if res := o.Open(again[wire.EthHeaderLen:]); res.Reason != esp.ReasonReplay {
			t.Errorf("%v: second copy: %v, want replay", mode, res.Reason)
		}
		o.Close()
		sad.Remove(key)
		key.Close()
	}
	if _, err := SealedVUDPFrame(inner, esp.ModeConf, psk); err == nil {
		t.Errorf("SealedVUDPFrame of a frame that is not VUDP succeeded")
	}
}
