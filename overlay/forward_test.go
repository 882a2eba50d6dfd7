package overlay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

var (
	peerAddr   = [4]byte{198, 18, 1, 1}
	peerMAC    = wire.MAC{0x02, 0xee, 0, 0, 1, 1}
	originAddr = [4]byte{198, 18, 2, 5}
)

// withPeer configures peerAddr as a peer on port, with its next hop.
func withPeer(tb *testBed, port uint16) *peer {
	p := &peer{addr: peerAddr, port: port}
	tb.e.update(func(c *config) {
		c.peers = []*peer{p}
		c.nextHops = map[[4]byte]nextHop{peerAddr: {port: 0, mac: peerMAC}}
	})
	return p
}

// groupPacket returns a VUDP packet from src to the group carrying inner.
func groupPacket(src [4]byte, id wire.VnetID, inner []byte) []byte {
	b := vudp(id, wire.DefaultGroup.As4(), wire.MulticastMAC(wire.DefaultGroup.As4()), inner)
	copy(b[26:30], src[:])
	wire.IPv4(b[14:34]).UpdateChecksum()
	return b
}

// vfwd wraps the IPv4 packet of a group frame in a VFWD packet from the
// peer to this host.
func vfwd(group []byte) []byte {
	ip := group[wire.EthHeaderLen:]
	b := make([]byte, wire.ForwardEncapLen+len(ip))
	copy(b[wire.ForwardEncapLen:], ip)
	o := wire.Outer{EthDst: localMAC, EthSrc: peerMAC, Src: peerAddr, Dst: localAddr, TTL: 64, SrcPort: wire.Port}
	wire.PutForwardFrame(b, &o, len(ip))
	return b
}

// splitForward separates VFWD packets from the others.
func splitForward(t *testing.T, frames [][]byte) (fwd, other [][]byte) {
	t.Helper()
	for _, f := range frames {
		o := parseOuter(t, f)
		if id, _, _ := wire.ParseMsgHeader(o.udp.Payload()); id == wire.MsgVFWD {
			fwd = append(fwd, f)
		} else {
			other = append(other, f)
		}
	}
	return fwd, other
}

func TestFloodCopiedToPeers(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	p := withPeer(tb, 4000)
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 30))
	fwd, other := splitForward(t, tb.underlay.Transmitted())
	data, _ := split(t, other)
	if len(data) != 1 {
		t.Fatalf("sent %d data frames to the group, want 1", len(data))
	}
	// One copy of the announce of the new MAC and one of the data frame.
	if len(fwd) != 2 {
		t.Fatalf("sent %d copies to the peer, want 2", len(fwd))
	}
	o := parseOuter(t, fwd[1])
	if o.ip.Dst() != peerAddr || o.eth.Dst() != peerMAC {
		t.Errorf("copy sent to %v via %v, want %v via %v", o.ip.Dst(), o.eth.Dst(), peerAddr, peerMAC)
	}
	if got := o.udp.DstPort(); got != 4000 {
		t.Errorf("copy sent to port %d, want the peer's port 4000", got)
	}
	if want := data[0][wire.EthHeaderLen:]; !bytes.Equal(o.udp.Payload()[wire.MsgHeaderLen:], want) {
		t.Errorf("copy carries %x, want the group packet %x", o.udp.Payload()[4:], want)
	}
	if got := p.tx.Load(); got != 2 {
		t.Errorf("peer tx = %d, want 2", got)
	}
}

func TestForwardedFromPeer(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	p := withPeer(tb, wire.Port)
	vmMAC := wire.MAC{2, 0, 0, 0, 2, 5}
	inner := innerFrame(wire.BroadcastMAC, vmMAC, 40)
	copyPkt := vfwd(groupPacket(originAddr, vnet1500, inner))
	tb.inject(tb.underlay, copyPkt)

	got := tb.devices[vnet1500].Transmitted()
	if len(got) != 1 || !bytes.Equal(got[0], inner) {
		t.Fatalf("delivered %d frames, want the inner frame once", len(got))
	}
	v, s := tb.vnets[vnet1500].varp.lookup(makeKey(1, vmMAC))
	if s == nil || v.addr() != originAddr {
		t.Errorf("learned %v for %v, want the originator %v", v.addr(), vmMAC, originAddr)
	}
	resent := tb.underlay.Transmitted()
	if len(resent) != 1 {
		t.Fatalf("re-sent %d packets on the local segment, want 1", len(resent))
	}
	o := parseOuter(t, resent[0])
	if o.ip.Src() != originAddr || o.ip.Dst() != wire.DefaultGroup.As4() {
		t.Errorf("re-sent from %v to %v, want from the originator %v to the group", o.ip.Src(), o.ip.Dst(), originAddr)
	}
	if !o.ip.ChecksumValid() {
		t.Errorf("re-sent packet has an invalid IPv4 checksum")
	}
	if o.udp.Checksum() != 0 {
		t.Errorf("re-sent UDP checksum = %#x, want 0", o.udp.Checksum())
	}
	if !bytes.Equal(o.eip.Frame(), inner) {
		t.Errorf("re-sent packet carries %x, want %x", o.eip.Frame(), inner)
	}
	if got := p.rx.Load(); got != 1 {
		t.Errorf("peer rx = %d, want 1", got)
	}

	// The same copy again is a duplicate.
	tb.inject(tb.underlay, copyPkt)
	if got := tb.devices[vnet1500].Transmitted(); len(got) != 0 {
		t.Errorf("delivered a duplicate copy")
	}
	if got := tb.pipe.stats.drops[dropDuplicate].load(); got != 1 {
		t.Errorf("duplicate drops = %d, want 1", got)
	}
	// After the window it is new again.
	tb.advance(time.Second)
	tb.inject(tb.underlay, copyPkt)
	if got := tb.devices[vnet1500].Transmitted(); len(got) != 1 {
		t.Errorf("delivered %d frames after the duplicate window, want 1", len(got))
	}
}

// TestForwardedSynthesisedHeader: a forwarder of the original rebuilds
// the inner IPv4 header with only protocol, source and destination set.
func TestForwardedSynthesisedHeader(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	withPeer(tb, wire.Port)
	inner := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 2, 6}, 40)
	g := groupPacket(originAddr, vnet1500, inner)
	ip := g[wire.EthHeaderLen : wire.EthHeaderLen+20]
	for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11} {
		ip[i] = 0
	}
	tb.inject(tb.underlay, vfwd(g))
	if got := tb.devices[vnet1500].Transmitted(); len(got) != 1 || !bytes.Equal(got[0], inner) {
		t.Fatalf("delivered %d frames, want the inner frame", len(got))
	}
	resent := tb.underlay.Transmitted()
	if len(resent) != 1 || !parseOuter(t, resent[0]).ip.ChecksumValid() {
		t.Errorf("re-sent %d packets, want 1 with a rebuilt header", len(resent))
	}
}

func TestLocalGroupRelayedToPeers(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	withPeer(tb, wire.Port)
	inner := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 3, 1}, 40)
	g := groupPacket(remoteAddr, vnet1500, inner)
	tb.inject(tb.underlay, g)
	if got := tb.devices[vnet1500].Transmitted(); len(got) != 1 {
		t.Errorf("delivered %d frames, want 1", len(got))
	}
	fwd, other := splitForward(t, tb.underlay.Transmitted())
	if len(other) != 0 {
		t.Errorf("re-sent %d packets to the segment they came from", len(other))
	}
	if len(fwd) != 1 {
		t.Fatalf("relayed %d copies to the peer, want 1", len(fwd))
	}
	o := parseOuter(t, fwd[0])
	if got := o.udp.Payload()[wire.MsgHeaderLen:]; !bytes.Equal(got, g[wire.EthHeaderLen:]) {
		t.Errorf("relayed %x, want the packet %x", got, g[wire.EthHeaderLen:])
	}

	// Group traffic that the peer itself originated is not sent back.
	tb.inject(tb.underlay, groupPacket(peerAddr, vnet1500, innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 3, 2}, 40)))
	if fwd, _ := splitForward(t, tb.underlay.Transmitted()); len(fwd) != 0 {
		t.Errorf("relayed a packet back to the peer that originated it")
	}
}

// fragments splits the IPv4 packet of frame into fragments carrying
// chunk bytes of payload each.
func fragments(frame []byte, chunk int) [][]byte {
	hdr := frame[:34]
	payload := frame[34:]
	var out [][]byte
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f := append(append([]byte(nil), hdr...), payload[off:end]...)
		setFragment(f[14:], off, end < len(payload), end-off)
		ip := f[14:]
		binary.BigEndian.PutUint16(ip[6:], binary.BigEndian.Uint16(ip[6:])&^0x4000)
		wire.IPv4(ip[:20]).UpdateChecksum()
		out = append(out, f)
	}
	return out
}

func TestReassembly(t *testing.T) {
	inner := innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, 1380)
	whole := vudp(vnet1500, localAddr, localMAC, inner)
	frags := fragments(whole, 1000)
	if len(frags) != 2 {
		t.Fatalf("made %d fragments, want 2", len(frags))
	}
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		tb := newTestBed(t, vnet1500)
		for _, i := range order {
			tb.inject(tb.underlay, frags[i])
		}
		got := tb.devices[vnet1500].Transmitted()
		if len(got) != 1 || !bytes.Equal(got[0], inner) {
			t.Errorf("order %v: delivered %d frames, want the %d-byte inner frame", order, len(got), len(inner))
		}
		if n := tb.pipe.stats.reassembled.load(); n != 1 {
			t.Errorf("order %v: reassembled = %d, want 1", order, n)
		}
		if _, held, _, _ := tb.w.Umem().Count(); held != 0 {
			t.Errorf("order %v: %d frames held after reassembly", order, held)
		}
	}

	// A lone fragment expires.
	tb := newTestBed(t, vnet1500)
	tb.inject(tb.underlay, frags[0])
	tb.advance(3 * time.Second)
	if n := tb.pipe.stats.reassemblyFailed.load(); n != 1 {
		t.Errorf("reassembly failures after the timeout = %d, want 1", n)
	}
	if _, held, _, _ := tb.w.Umem().Count(); held != 0 {
		t.Errorf("%d frames held after the timeout", held)
	}

	// Overlapping fragments discard the datagram.
	tb = newTestBed(t, vnet1500)
	tb.inject(tb.underlay, frags[0])
	tb.inject(tb.underlay, frags[0])
	tb.inject(tb.underlay, frags[1])
	if got := tb.devices[vnet1500].Transmitted(); len(got) != 0 {
		t.Errorf("delivered a datagram with overlapping fragments")
	}
	// The last fragment started a new reassembly, which times out.
	tb.advance(3 * time.Second)
	if _, held, _, _ := tb.w.Umem().Count(); held != 0 {
		t.Errorf("%d frames held after overlapping fragments", held)
	}
}

// TestTooBigICMP: when the underlay MTU no longer fits a frame, the
// sender gets an ICMP "too big" with the MTU that fits, or its packet is
// fragmented when DF is clear.
func TestTooBigICMP(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	tb.e.cfg.Load().underlay[0].mtu = 1000
	vm, peerVM := wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}
	big := innerFrame(peerVM, vm, 1200)
	big[14+6] = 0x40 // DF
	wire.IPv4(big[14:34]).UpdateChecksum()
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, vm, 10))
	tb.underlay.Transmitted()
	tb.e.update(func(c *config) { c.resolve = false })

	tb.inject(tb.devices[vnet1500], big)
	replies := tb.devices[vnet1500].Transmitted()
	if len(replies) != 1 {
		t.Fatalf("got %d replies, want one ICMP message", len(replies))
	}
	r := replies[0]
	if wire.Ethernet(r).Dst() != vm || wire.Ethernet(r).Src() != peerVM {
		t.Errorf("ICMP from %v to %v, want from %v to %v", wire.Ethernet(r).Src(), wire.Ethernet(r).Dst(), peerVM, vm)
	}
	ip, ok := wire.ParseIPv4(r[14:])
	if !ok || ip.Protocol() != wire.ProtoICMP {
		t.Fatalf("reply is not ICMP over IPv4: %x", r)
	}
	icmp := ip.Payload()
	want := 1000 - (wire.EncapLen - wire.EthHeaderLen) - wire.EthHeaderLen
	if icmp[0] != 3 || icmp[1] != 4 || int(binary.BigEndian.Uint16(icmp[6:])) != want {
		t.Errorf("ICMP type %d code %d MTU %d, want 3, 4, %d", icmp[0], icmp[1], binary.BigEndian.Uint16(icmp[6:]), want)
	}
	if wire.Fold(wire.Checksum(icmp, 0)) != 0xffff {
		t.Errorf("ICMP checksum invalid")
	}
	if !bytes.Equal(icmp[8:28], big[14:34]) {
		t.Errorf("ICMP quotes %x, want the original header %x", icmp[8:28], big[14:34])
	}
	if data, _ := split(t, tb.underlay.Transmitted()); len(data) != 0 {
		t.Errorf("sent %d oversize frames to the underlay", len(data))
	}

	// Without DF the packet is fragmented to fit.
	big[14+6] = 0
	wire.IPv4(big[14:34]).UpdateChecksum()
	tb.inject(tb.devices[vnet1500], big)
	data, _ := split(t, tb.underlay.Transmitted())
	if len(data) != 2 {
		t.Fatalf("sent %d frames, want 2 fragments", len(data))
	}
	var payload []byte
	for _, f := range data {
		o := parseOuter(t, f)
		if o.ip.TotalLen() > 1000 {
			t.Errorf("fragment packet of %d bytes exceeds the MTU 1000", o.ip.TotalLen())
		}
		fip, ok := wire.ParseIPv4(o.eip.Frame()[14:])
		if !ok {
			t.Fatalf("inner fragment has an invalid IPv4 header")
		}
		payload = append(payload, fip.Payload()...)
	}
	if !bytes.Equal(payload, big[34:]) {
		t.Errorf("fragments carry %d bytes, want the %d bytes of the packet", len(payload), len(big)-34)
	}
}
