package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

var (
	guestIPv4A = []byte{198, 19, 0, 1}
	guestIPv4B = []byte{198, 19, 0, 2}
	// 2001:db8::1 and 2001:db8::2 (RFC 3849 documentation prefix).
	guestIPv6A = mustHex("20010db8000000000000000000000001")
	guestIPv6B = mustHex("20010db8000000000000000000000002")
)

// l4Frame describes a test frame with a TCP, UDP or ICMP segment.
type l4Frame struct {
	ipv6    bool
	tags    []uint16 // VLAN TPIDs, outermost first
	proto   uint8
	payload []byte
	frag    uint16 // IPv4 flags and fragment offset field
}

// build returns the frame and the offset of the L4 checksum field in it,
// with the checksum field zero.
func (f l4Frame) build() (frame []byte, csumOff int) {
	var seg []byte
	switch f.proto {
	case ProtoTCP:
		seg = mustHex("1389 0050 00000001 00000000 5018 ffff 0000 0000")
		csumOff = 16
	case ProtoUDP:
		seg = mustHex("1389 1388 0000 0000")
		csumOff = 6
	default: // ICMP echo request
		seg = mustHex("0800 0000 4721 0001")
		if f.ipv6 {
			seg[0] = 128
		}
		csumOff = 2
	}
	seg = append(seg, f.payload...)
	if f.proto == ProtoUDP {
		binary.BigEndian.PutUint16(seg[4:6], uint16(len(seg)))
	}

	frame = append(frame, hostMAC2[:]...)
	frame = append(frame, hostMAC1[:]...)
	for i, tpid := range f.tags {
		frame = binary.BigEndian.AppendUint16(frame, tpid)
		frame = binary.BigEndian.AppendUint16(frame, uint16(100+i)) // TCI
	}
	if f.ipv6 {
		frame = binary.BigEndian.AppendUint16(frame, EtherTypeIPv6)
		frame = append(frame, 0x60, 0, 0, 0)
		frame = binary.BigEndian.AppendUint16(frame, uint16(len(seg)))
		frame = append(frame, f.proto, 64)
		frame = append(frame, guestIPv6A...)
		frame = append(frame, guestIPv6B...)
	} else {
		frame = binary.BigEndian.AppendUint16(frame, EtherTypeIPv4)
		h := mustHex("4500 0000 1234 0000 4000 0000")
		binary.BigEndian.PutUint16(h[2:4], uint16(20+len(seg)))
		binary.BigEndian.PutUint16(h[6:8], f.frag)
		h[9] = f.proto
		h = append(h, guestIPv4A...)
		h = append(h, guestIPv4B...)
		binary.BigEndian.PutUint16(h[10:12], IPv4HeaderChecksum(h))
		frame = append(frame, h...)
	}
	csumOff += len(frame)
	return append(frame, seg...), csumOff
}

// pseudoHeader returns the pseudo-header bytes of f for a segment of n
// bytes, written out as RFC 768 and RFC 8200 lay them out.
func (f l4Frame) pseudoHeader(n int) []byte {
	if f.ipv6 {
		b := append(clone(guestIPv6A), guestIPv6B...)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		return append(b, 0, 0, 0, f.proto)
	}
	b := append(clone(guestIPv4A), guestIPv4B...)
	b = append(b, 0, f.proto)
	return binary.BigEndian.AppendUint16(b, uint16(n))
}

// checksums returns the checksum field value of f computed with the
// reference sum, and the pseudo-header sum that CHECKSUM_PARTIAL leaves.
func (f l4Frame) checksums(frame []byte, csumOff int) (full, partial uint16) {
	seg := frame[csumOff-l4ChecksumFieldOffset(f.proto):]
	pseudo := f.pseudoHeader(len(seg))
	partial = referenceSum(pseudo, 0)
	full = ^referenceSum(append(pseudo, seg...), 0)
	if f.proto == ProtoUDP && full == 0 {
		full = 0xffff
	}
	return full, partial
}

func l4ChecksumFieldOffset(proto uint8) int {
	switch proto {
	case ProtoTCP:
		return 16
	case ProtoUDP:
		return 6
	}
	return 2
}

func putField(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:off+2], v) }

// l4Cases returns TCP and UDP frames over IPv4 and IPv6, untagged, with one
// 802.1Q tag and with two tags, and with even and odd payload lengths.
func l4Cases() []l4Frame {
	var cases []l4Frame
	for _, ipv6 := range []bool{false, true} {
		for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
			for _, tags := range [][]uint16{nil, {EtherTypeVLAN}, {EtherTypeQinQ, EtherTypeVLAN}} {
				for _, n := range []int{0, 1, 2, 7, 100, 1001, 1460} {
					payload := make([]byte, n)
					for i := range payload {
						payload[i] = byte(i*7 + 3)
					}
					cases = append(cases, l4Frame{ipv6: ipv6, tags: tags, proto: proto, payload: payload})
				}
			}
		}
	}
	return cases
}

func (f l4Frame) String() string {
	family := "IPv4"
	if f.ipv6 {
		family = "IPv6"
	}
	name := map[uint8]string{ProtoTCP: "TCP", ProtoUDP: "UDP", ProtoICMP: "ICMP", ProtoICMPv6: "ICMPv6"}[f.proto]
	return fmt.Sprintf("%s/%s tags %d payload %d", name, family, len(f.tags), len(f.payload))
}

func TestCompleteL4ChecksumPartial(t *testing.T) {
	for _, c := range l4Cases() {
		frame, off := c.build()
		full, partial := c.checksums(frame, off)
		putField(frame, off, partial)
		before := clone(frame)

		if L4ChecksumValid(frame) && partial != full {
			t.Errorf("%v: L4ChecksumValid() with the pseudo-header sum = true, want false", c)
		}
		if !CompleteL4Checksum(frame) {
			t.Errorf("%v: CompleteL4Checksum() = false, want true", c)
			continue
		}
		if got := binary.BigEndian.Uint16(frame[off:]); got != full {
			t.Errorf("%v: checksum after completion = %#04x, want %#04x", c, got, full)
		}
		if !L4ChecksumValid(frame) {
			t.Errorf("%v: L4ChecksumValid() after completion = false, want true", c)
		}
		putField(before, off, full)
		if !bytes.Equal(frame, before) {
			t.Errorf("%v: completion changed bytes other than the checksum", c)
		}
	}
}

func TestCompleteL4ChecksumComplete(t *testing.T) {
	for _, c := range l4Cases() {
		frame, off := c.build()
		full, _ := c.checksums(frame, off)
		putField(frame, off, full)
		before := clone(frame)

		// A complete checksum is left alone, or, when it happens to equal
		// the pseudo-header sum, rewritten with the same value.
		CompleteL4Checksum(frame)
		if !bytes.Equal(frame, before) {
			t.Errorf("%v: CompleteL4Checksum() changed a complete frame:\n%x\nwant\n%x", c, frame, before)
		}
		if !L4ChecksumValid(frame) {
			t.Errorf("%v: L4ChecksumValid() = false, want true", c)
		}
		frame[len(frame)-1] ^= 0x01
		if L4ChecksumValid(frame) {
			t.Errorf("%v: L4ChecksumValid() with a flipped bit = true, want false", c)
		}
	}
}

func TestCompleteL4ChecksumUDPZero(t *testing.T) {
	c := l4Frame{proto: ProtoUDP, payload: []byte("no checksum")}
	frame, off := c.build()
	before := clone(frame)
	if CompleteL4Checksum(frame) {
		t.Errorf("CompleteL4Checksum(IPv4 UDP checksum 0) = true, want false")
	}
	if !bytes.Equal(frame, before) {
		t.Errorf("CompleteL4Checksum(IPv4 UDP checksum 0) changed the frame")
	}
	if !L4ChecksumValid(frame) {
		t.Errorf("L4ChecksumValid(IPv4 UDP checksum 0) = false, want true")
	}
	if binary.BigEndian.Uint16(frame[off:]) != 0 {
		t.Fatalf("test frame has a non-zero checksum")
	}

	c.ipv6 = true
	frame, _ = c.build()
	if L4ChecksumValid(frame) {
		t.Errorf("L4ChecksumValid(IPv6 UDP checksum 0) = true, want false")
	}
}

func TestCompleteL4ChecksumUDPComputedZero(t *testing.T) {
	// Choose the last payload word so that the sum is all ones and the
	// computed checksum is 0, which UDP sends as ffff.
	c := l4Frame{proto: ProtoUDP, payload: []byte{0x12, 0x34, 0, 0}}
	frame, off := c.build()
	seg := frame[off-6:]
	s := referenceSum(append(c.pseudoHeader(len(seg)), seg...), 0)
	binary.BigEndian.PutUint16(frame[len(frame)-2:], ^s)
	_, partial := c.checksums(frame, off)
	putField(frame, off, partial)

	if !CompleteL4Checksum(frame) {
		t.Fatalf("CompleteL4Checksum() = false, want true")
	}
	if got := binary.BigEndian.Uint16(frame[off:]); got != 0xffff {
		t.Errorf("checksum = %#04x, want 0xffff (a computed 0)", got)
	}
	if !L4ChecksumValid(frame) {
		t.Errorf("L4ChecksumValid() = false, want true")
	}
}

func TestCompleteL4ChecksumLeftAlone(t *testing.T) {
	tests := []struct {
		name  string
		frame l4Frame
	}{
		{"IPv4 first fragment", l4Frame{proto: ProtoUDP, payload: make([]byte, 40), frag: 0x2000}},
		{"IPv4 non-first fragment", l4Frame{proto: ProtoUDP, payload: make([]byte, 40), frag: 0x00b9}},
		{"IPv4 TCP middle fragment", l4Frame{proto: ProtoTCP, payload: make([]byte, 40), frag: 0x2010}},
		{"ICMP", l4Frame{proto: ProtoICMP, payload: make([]byte, 8)}},
		{"ICMPv6", l4Frame{ipv6: true, proto: ProtoICMPv6, payload: make([]byte, 8)}},
	}
	for _, tt := range tests {
		frame, off := tt.frame.build()
		_, partial := tt.frame.checksums(frame, off)
		putField(frame, off, partial)
		before := clone(frame)
		if CompleteL4Checksum(frame) {
			t.Errorf("%s: CompleteL4Checksum() = true, want false", tt.name)
		}
		if !bytes.Equal(frame, before) {
			t.Errorf("%s: CompleteL4Checksum() changed the frame", tt.name)
		}
		if tt.frame.frag != 0 && L4ChecksumValid(frame) {
			t.Errorf("%s: L4ChecksumValid() = true, want false for a fragment", tt.name)
		}
	}
}

func TestCompleteL4ChecksumMalformed(t *testing.T) {
	tcp := l4Frame{proto: ProtoTCP, payload: []byte("abc")}
	tcpFrame, tcpOff := tcp.build()
	_, partial := tcp.checksums(tcpFrame, tcpOff)
	putField(tcpFrame, tcpOff, partial)

	udp6 := l4Frame{ipv6: true, proto: ProtoUDP, payload: []byte("abc")}
	udp6Frame, _ := udp6.build()

	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"Ethernet header only", tcpFrame[:14]},
		{"ARP", append(clone(tcpFrame[:12]), 0x08, 0x06, 0, 1)},
		{"IPv4 cut short", tcpFrame[:40]},
		{"TCP header cut short", func() []byte {
			b := clone(tcpFrame[:14+20+19])
			binary.BigEndian.PutUint16(b[16:18], 39)
			return b
		}()},
		{"UDP length beyond payload", func() []byte {
			c := l4Frame{proto: ProtoUDP, payload: []byte("abcd")}
			b, _ := c.build()
			binary.BigEndian.PutUint16(b[14+20+4:], 100)
			return b
		}()},
		{"IPv6 payload length beyond frame", func() []byte {
			b := clone(udp6Frame)
			binary.BigEndian.PutUint16(b[14+4:], 200)
			return b
		}()},
		{"IPv6 jumbo payload length 0", func() []byte {
			b := clone(udp6Frame)
			binary.BigEndian.PutUint16(b[14+4:], 0)
			return b
		}()},
		{"IPv6 hop-by-hop extension header", func() []byte {
			b := clone(udp6Frame)
			b[14+6] = 0
			return b
		}()},
		{"IPv6 version 4 nibble", func() []byte {
			b := clone(udp6Frame)
			b[14] = 0x40
			return b
		}()},
	}
	for _, tt := range tests {
		before := clone(tt.frame)
		if CompleteL4Checksum(tt.frame) {
			t.Errorf("%s: CompleteL4Checksum(%x) = true, want false", tt.name, before)
		}
		if !bytes.Equal(tt.frame, before) {
			t.Errorf("%s: CompleteL4Checksum changed the frame", tt.name)
		}
		if L4ChecksumValid(tt.frame) {
			t.Errorf("%s: L4ChecksumValid(%x) = true, want false", tt.name, before)
		}
	}
}

func TestL4ChecksumValidICMP(t *testing.T) {
	for _, c := range []l4Frame{
		{proto: ProtoICMP, payload: []byte("ping payload")},
		{ipv6: true, proto: ProtoICMPv6, payload: []byte("ping payload!")},
		{ipv6: true, tags: []uint16{EtherTypeVLAN}, proto: ProtoICMPv6, payload: []byte("x")},
	} {
		frame, off := c.build()
		seg := frame[off-2:]
		var sum uint16
		if c.ipv6 {
			sum = ^referenceSum(append(c.pseudoHeader(len(seg)), seg...), 0)
		} else {
			sum = ^referenceSum(seg, 0) // no pseudo-header for ICMP over IPv4
		}
		putField(frame, off, sum)
		if !L4ChecksumValid(frame) {
			t.Errorf("%v: L4ChecksumValid() = false, want true", c)
		}
		frame[len(frame)-1] ^= 0x80
		if L4ChecksumValid(frame) {
			t.Errorf("%v: L4ChecksumValid() with a flipped bit = true, want false", c)
		}
	}
}
