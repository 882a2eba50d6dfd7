package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
)

// The capture holds underlay traffic of the original user-space vnetd
// between hosts 198.18.0.1 and 198.18.0.2 on vnet 1500, recorded on their
// veth link, followed by hand-made malformed probes.
const capturePath = "../testdata/xen-vnetd-two-hosts.pcap"

// readCapture returns the frames of the capture, frame 1 at index 0.
func readCapture(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open(capturePath)
	if err != nil {
		tb.Fatalf("open capture: %v", err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		tb.Fatalf("read capture: %v", err)
	}
	if r.LinkType() != pcapfile.LinkTypeEthernet {
		tb.Fatalf("capture link type = %d, want Ethernet", r.LinkType())
	}
	var frames [][]byte
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			tb.Fatalf("read capture frame %d: %v", len(frames)+1, err)
		}
		frames = append(frames, rec.Data)
	}
}

// captureClasses is the class and reason of each frame of the capture, as
// tshark decodes it. Frames 1-4 are IGMP joins, 5 is a broadcast ARP flooded
// to the group, and 6-20 are unicast data (ARP, ICMP echo, UDP). Frames 21
// and 23 are VARP requests, 22 is the announce in reply to 21, and 24-27 are
// ARP between the hosts. Frames 28-31 are data frames with the EtherIP
// version words 00 40, 40 00, 0f 4f and 00 30. Frame 32 has message id 4,
// 33 is a 14-byte VARP message, and 34 is a VFWD message whose inner header
// has protocol 0 and no UDP header.
var captureClasses = func() map[int]struct {
	class  Class
	reason Reason
} {
	m := map[int]struct {
		class  Class
		reason Reason
	}{}
	set := func(from, to int, c Class, r Reason) {
		for n := from; n <= to; n++ {
			m[n] = struct {
				class  Class
				reason Reason
			}{c, r}
		}
	}
	set(1, 4, ClassOther, ReasonNone)
	set(5, 5, ClassDataGroup, ReasonNone)
	set(6, 20, ClassDataUnicast, ReasonNone)
	set(21, 21, ClassVarpRequest, ReasonNone)
	set(22, 22, ClassVarpAnnounce, ReasonNone)
	set(23, 23, ClassVarpRequest, ReasonNone)
	set(24, 27, ClassOther, ReasonNone)
	set(28, 28, ClassDataUnicast, ReasonNone)
	set(29, 29, ClassMalformed, ReasonEtherIPVersion)
	set(30, 30, ClassDataUnicast, ReasonNone)
	set(31, 31, ClassMalformed, ReasonEtherIPVersion)
	set(32, 32, ClassMalformed, ReasonMsgID)
	set(33, 33, ClassMalformed, ReasonVarp)
	set(34, 34, ClassMalformed, ReasonForward)
	return m
}()

func TestCaptureClassify(t *testing.T) {
	frames := readCapture(t)
	if len(frames) != len(captureClasses) {
		t.Fatalf("capture has %d frames, want %d", len(frames), len(captureClasses))
	}
	for i, frame := range frames {
		n := i + 1
		want := captureClasses[n]
		c, r := Classify(frame)
		if c != want.class || r != want.reason {
			t.Errorf("frame %d: Classify(%x) = %v, %v, want %v, %v", n, frame, c, r, want.class, want.reason)
		}
	}
}

// dataMessage returns the EtherIP view of a VUDP frame of the capture.
func dataMessage(t *testing.T, n int, frame []byte) EtherIP {
	t.Helper()
	ip, ok := ParseIPv4(frame[EthHeaderLen:])
	if !ok {
		t.Fatalf("frame %d: ParseIPv4 failed", n)
	}
	udp, ok := ParseUDP(ip.Payload())
	if !ok {
		t.Fatalf("frame %d: ParseUDP failed", n)
	}
	e, ok := ParseEtherIP(udp.Payload()[MsgHeaderLen:])
	if !ok {
		t.Fatalf("frame %d: ParseEtherIP failed", n)
	}
	return e
}

func TestCaptureInnerFrames(t *testing.T) {
	frames := readCapture(t)
	inner := 0
	for i, frame := range frames {
		n := i + 1
		if c, _ := Classify(frame); c != ClassDataGroup && c != ClassDataUnicast {
			continue
		}
		inner++
		e := dataMessage(t, n, frame)
		if got := e.Vnet(); got != vnet1500 {
			t.Errorf("frame %d: Vnet() = %v, want %v", n, got, vnet1500)
		}
		eth, ok := ParseEthernet(e.Frame())
		if !ok {
			t.Errorf("frame %d: ParseEthernet(inner %x) failed", n, e.Frame())
			continue
		}
		switch eth.EtherType() {
		case EtherTypeARP:
			if len(eth.Payload()) != 28 {
				t.Errorf("frame %d: inner ARP payload is %d bytes, want 28", n, len(eth.Payload()))
			}
		case EtherTypeIPv4:
			ip, ok := ParseIPv4(eth.Payload())
			if !ok {
				t.Errorf("frame %d: ParseIPv4(inner %x) failed", n, eth.Payload())
				continue
			}
			if !ip.ChecksumValid() {
				t.Errorf("frame %d: inner IPv4 ChecksumValid() = false, want true", n)
			}
			if p := ip.Protocol(); p != ProtoICMP && p != ProtoUDP {
				t.Errorf("frame %d: inner protocol %d, want ICMP or UDP", n, p)
			}
			if !L4ChecksumValid(e.Frame()) {
				t.Errorf("frame %d: inner L4ChecksumValid() = false, want true", n)
			}
		default:
			t.Errorf("frame %d: inner EtherType %#04x, want ARP or IPv4", n, eth.EtherType())
		}
	}
	if inner != 18 {
		t.Errorf("checked %d data frames, want 18 (frames 5-20, 28, 30)", inner)
	}
}

func TestCaptureVarp(t *testing.T) {
	frames := readCapture(t)
	varpOf := func(n int) Varp {
		ip, _ := ParseIPv4(frames[n-1][EthHeaderLen:])
		udp, _ := ParseUDP(ip.Payload())
		v, ok := ParseVarp(udp.Payload())
		if !ok {
			t.Fatalf("frame %d: ParseVarp(%x) failed", n, udp.Payload())
		}
		return v
	}

	req := varpOf(21)
	if got := req.Opcode(); got != VarpRequest {
		t.Errorf("frame 21 Opcode() = %d, want %d", got, VarpRequest)
	}
	if got := req.MAC(); got != guestMAC {
		t.Errorf("frame 21 MAC() = %v, want %v", got, guestMAC)
	}
	if got := req.Vnet(); got.String() != "0000:0000:0000:0000:0000:0000:0000:1500" {
		t.Errorf("frame 21 Vnet() = %v, want 0000:0000:0000:0000:0000:0000:0000:1500", got)
	}
	if got := req.Addr(); got != host1 {
		t.Errorf("frame 21 Addr() = %v, want %v", got, host1)
	}

	ann := varpOf(22)
	if got := ann.Opcode(); got != VarpAnnounce {
		t.Errorf("frame 22 Opcode() = %d, want %d", got, VarpAnnounce)
	}
	if got := ann.MAC(); got != guestMAC {
		t.Errorf("frame 22 MAC() = %v, want %v", got, guestMAC)
	}
	if got := ann.Vnet(); got != vnet1500 {
		t.Errorf("frame 22 Vnet() = %v, want %v", got, vnet1500)
	}
	if got := ann.Family(); got != VarpFamilyIPv4 {
		t.Errorf("frame 22 Family() = %d, want %d", got, VarpFamilyIPv4)
	}
	if got := ann.Addr(); got != host2 {
		t.Errorf("frame 22 Addr() = %v, want %v (198.18.0.2)", got, host2)
	}
}

// outerOf reads the Outer fields of a captured UDP frame.
func outerOf(frame []byte) Outer {
	eth := Ethernet(frame)
	ip, _ := ParseIPv4(eth.Payload())
	udp, _ := ParseUDP(ip.Payload())
	return Outer{
		EthDst: eth.Dst(), EthSrc: eth.Src(),
		Src: ip.Src(), Dst: ip.Dst(),
		TTL: ip.TTL(), ID: ip.ID(), DontFragment: ip.DontFragment(),
		SrcPort: udp.SrcPort(),
	}
}

// udpChecksumOffset is where the outer UDP checksum sits in a frame with a
// 20-byte IPv4 header. vnetd sends through a UDP socket, so its frames carry
// a checksum where the builders write 0.
const udpChecksumOffset = EthHeaderLen + IPv4HeaderLen + 6

func TestCaptureRebuild(t *testing.T) {
	frames := readCapture(t)
	for i, frame := range frames {
		n := i + 1
		c, _ := Classify(frame)
		var b []byte
		switch c {
		case ClassDataGroup, ClassDataUnicast:
			e := dataMessage(t, n, frame)
			o := outerOf(frame)
			o.Vnet = e.Vnet()
			b = make([]byte, EncapLen+len(e.Frame()))
			PutVUDP(b, &o, len(e.Frame()))
			copy(b[EncapLen:], e.Frame())
			// Frame 30 carries reserved bits 0f 4f, where the builder
			// writes 00 40.
			if n == 30 {
				b[EncapLen-EtherIPHeaderLen] = 0x0f
				b[EncapLen-EtherIPHeaderLen+1] = 0x4f
			}
		case ClassVarpRequest, ClassVarpAnnounce:
			ip, _ := ParseIPv4(frame[EthHeaderLen:])
			udp, _ := ParseUDP(ip.Payload())
			v, _ := ParseVarp(udp.Payload())
			o := outerOf(frame)
			o.Vnet = v.Vnet()
			b = make([]byte, VarpPacketLen)
			PutVarpPacket(b, &o, v.Opcode(), v.MAC(), v.Addr())
		default:
			continue
		}
		want := clone(frame)
		want[udpChecksumOffset], want[udpChecksumOffset+1] = 0, 0
		if !bytes.Equal(b, want) {
			t.Errorf("frame %d rebuilt =\n%x\nwant (UDP checksum zeroed)\n%x", n, b, want)
		}
	}
}

// The capture was recorded on a veth link where Linux leaves the outer UDP
// checksum of vnetd's packets as the pseudo-header sum (CHECKSUM_PARTIAL),
// which is what AF_XDP receives too.
func TestCaptureCompleteOuterChecksum(t *testing.T) {
	frames := readCapture(t)
	for _, n := range []int{5, 6, 7, 17, 18, 22} {
		frame := clone(frames[n-1])
		if L4ChecksumValid(frame) {
			t.Errorf("frame %d: L4ChecksumValid() before completion = true, want false", n)
		}
		if !CompleteL4Checksum(frame) {
			t.Errorf("frame %d: CompleteL4Checksum() = false, want true", n)
		}
		if !L4ChecksumValid(frame) {
			t.Errorf("frame %d: L4ChecksumValid() after completion = false, want true", n)
		}
	}
}
