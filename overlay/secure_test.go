package overlay

import (
	"bytes"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

var testPSK = []byte("0123456789abcdef0123456789abcdef")

// secure makes vnet id of the test bed secure with mode and psk, as
// AddVnet does.
func (tb *testBed) secure(id wire.VnetID, mode esp.Mode, psk []byte) {
	tb.t.Helper()
	vn := tb.vnets[id]
	vn.mode = mode
	tb.e.underlay[0].port = tb.e.cfg.Load().underlay[0]
	if err := tb.e.addKey(vn, psk); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(vn.key.Close)
}

// hostPair returns two test beds whose vnet 1500 is secure with the same
// key: a at remoteAddr, b at localAddr.
func hostPair(t *testing.T, mode esp.Mode) (a, b *testBed) {
	a = newTestBedAt(t, remoteAddr, remoteMAC, vnet1500)
	b = newTestBedAt(t, localAddr, localMAC, vnet1500)
	a.secure(vnet1500, mode, testPSK)
	b.secure(vnet1500, mode, testPSK)
	return a, b
}

func TestSecureRoundTrip(t *testing.T) {
	for _, mode := range []esp.Mode{esp.ModeConf, esp.ModeAuth} {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := hostPair(t, mode)
			inner := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 100)
			a.inject(a.devices[vnet1500], inner)
			sent := a.underlay.Transmitted()
			if len(sent) != 2 {
				t.Fatalf("sent %d packets, want an announce and the frame", len(sent))
			}
			for _, f := range sent {
				ip, ok := wire.ParseIPv4(f[14:])
				if !ok || ip.Protocol() != wire.ProtoESP {
					t.Fatalf("sent a packet that is not ESP: %x", f)
				}
				if !ip.DontFragment() && ip.Dst() != wire.DefaultGroup.As4() {
					t.Errorf("packet to %v, want the group", ip.Dst())
				}
			}
			data := sent[1]
			visible := bytes.Contains(data, inner[14:])
			if mode == esp.ModeConf && visible {
				t.Errorf("conf: the inner packet is readable on the wire")
			}
			if mode == esp.ModeAuth && !visible {
				t.Errorf("auth: the inner packet is not readable on the wire")
			}

			for _, f := range sent {
				b.inject(b.underlay, f)
			}
			got := b.devices[vnet1500].Transmitted()
			if len(got) != 1 || !bytes.Equal(got[0], inner) {
				t.Fatalf("receiver delivered %d frames, want the inner frame", len(got))
			}
			if v, s := b.vnets[vnet1500].varp.lookup(makeKey(1, wire.MAC{2, 0, 0, 0, 0, 1})); s == nil || v.addr() != remoteAddr {
				t.Errorf("receiver did not learn the sender's VM at %v", remoteAddr)
			}
			if n := b.pipe.stats.esp[esp.ReasonNone].load(); n != 2 {
				t.Errorf("opened %d ESP packets, want 2", n)
			}

			// A replay is rejected.
			b.inject(b.underlay, data)
			if got := b.devices[vnet1500].Transmitted(); len(got) != 0 {
				t.Errorf("replayed packet delivered")
			}
			if n := b.pipe.stats.esp[esp.ReasonReplay].load(); n != 1 {
				t.Errorf("replays = %d, want 1", n)
			}

			// A tampered packet is rejected.
			bad := append([]byte(nil), data...)
			bad[len(bad)-20] ^= 1
			b.inject(b.underlay, bad)
			if got := b.devices[vnet1500].Transmitted(); len(got) != 0 {
				t.Errorf("tampered packet delivered")
			}
			if n := b.pipe.stats.esp[esp.ReasonAuth].load(); n != 1 {
				t.Errorf("authentication failures = %d, want 1", n)
			}
		})
	}
}

// TestSecureRejectsPlain: a secure vnet drops frames and VARP messages in
// the clear, and learns nothing from them.
func TestSecureRejectsPlain(t *testing.T) {
	_, b := hostPair(t, esp.ModeConf)
	vm := wire.MAC{2, 0, 0, 0, 0, 7}
	b.inject(b.underlay, vudp(vnet1500, localAddr, localMAC, innerFrame(wire.BroadcastMAC, vm, 30)))
	b.inject(b.underlay, varpPacket(wire.VarpAnnounce, vnet1500, wire.MAC{2, 0, 0, 0, 0, 8}, remoteAddr))
	if got := b.devices[vnet1500].Transmitted(); len(got) != 0 {
		t.Errorf("delivered %d frames sent in the clear", len(got))
	}
	vn := b.vnets[vnet1500]
	if got := vn.stats[0].drops[dropInsecure].load(); got != 2 {
		t.Errorf("insecure drops = %d, want 2", got)
	}
	if n := vn.varp.count(); n != 0 {
		t.Errorf("learned %d entries from messages in the clear", n)
	}
}

// TestSecureWrongKey: a host with another key cannot send into the vnet.
func TestSecureWrongKey(t *testing.T) {
	a := newTestBedAt(t, remoteAddr, remoteMAC, vnet1500)
	b := newTestBedAt(t, localAddr, localMAC, vnet1500)
	a.secure(vnet1500, esp.ModeConf, []byte("fedcba9876543210fedcba9876543210"))
	b.secure(vnet1500, esp.ModeConf, testPSK)
	a.inject(a.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 40))
	for _, f := range a.underlay.Transmitted() {
		b.inject(b.underlay, f)
	}
	if got := b.devices[vnet1500].Transmitted(); len(got) != 0 {
		t.Errorf("delivered %d frames sealed with another key", len(got))
	}
	if n := b.pipe.stats.esp[esp.ReasonNoSA].load(); n == 0 {
		t.Errorf("no packet counted as without SA")
	}
}

// TestSecureVarpReply: a VARP request on a secure vnet gets a sealed
// announce in reply.
func TestSecureVarpReply(t *testing.T) {
	a, b := hostPair(t, esp.ModeAuth)
	vm := wire.MAC{2, 0, 0, 0, 0, 9}
	b.inject(b.devices[vnet1500], innerFrame(wire.BroadcastMAC, vm, 10))
	b.underlay.Transmitted()
	// a sends a frame to the unknown MAC of vm, which starts a request.
	a.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{localAddr: {port: 0, mac: localMAC}} })
	a.inject(a.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 10))
	a.inject(a.devices[vnet1500], innerFrame(vm, wire.MAC{2, 0, 0, 0, 0, 1}, 10))
	for _, f := range a.underlay.Transmitted() {
		b.inject(b.underlay, f)
	}
	replies := b.underlay.Transmitted()
	var announce []byte
	for _, f := range replies {
		if ip, ok := wire.ParseIPv4(f[14:]); ok && ip.Dst() == remoteAddr {
			announce = f
		}
	}
	if announce == nil {
		t.Fatalf("no reply to the request among %d packets", len(replies))
	}
	if ip, _ := wire.ParseIPv4(announce[14:]); ip.Protocol() != wire.ProtoESP {
		t.Errorf("reply is not sealed")
	}
	a.inject(a.underlay, announce)
	if v, s := a.vnets[vnet1500].varp.lookup(makeKey(1, vm)); s == nil || v.addr() != localAddr {
		t.Errorf("requester did not learn %v from the sealed announce", vm)
	}
}

func TestSecureAllocations(t *testing.T) {
	a, b := hostPair(t, esp.ModeConf)
	inner := innerFrame(wire.MAC{2, 0, 0, 0, 0, 2}, wire.MAC{2, 0, 0, 0, 0, 1}, 64)
	a.vnets[vnet1500].varp.set(makeKey(1, wire.MAC{2, 0, 0, 0, 0, 2}), makeValue(localAddr, uint8(VarpReachable), 0), 0)
	a.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{localAddr: {port: 0, mac: localMAC}} })
	a.inject(a.devices[vnet1500], inner)
	sent := a.underlay.Transmitted()
	b.inject(b.underlay, sent[len(sent)-1])
	b.devices[vnet1500].Transmitted()
	a.underlay.SetDiscard(true)
	b.devices[vnet1500].SetDiscard(true)
	allocs := testing.AllocsPerRun(500, func() {
		a.devices[vnet1500].Inject(inner)
		a.w.PollOnce()
	})
	if allocs != 0 {
		t.Errorf("sealing: %v allocations per frame, want 0", allocs)
	}
}

// TestSecureMTU: a frame at a secure vnet's MTU fits the underlay once
// encapsulated and sealed, and one byte more does not.
func TestSecureMTU(t *testing.T) {
	for _, tc := range []struct {
		mode esp.Mode
		mtu  int
	}{{esp.ModeConf, 1402}, {esp.ModeAuth, 1410}} {
		a, _ := hostPair(t, tc.mode)
		if got := a.e.vnetMTU(tc.mode); got != tc.mtu {
			t.Errorf("%v: vnet MTU on a 1500-byte underlay = %d, want %d", tc.mode, got, tc.mtu)
		}
		vn := a.vnets[vnet1500]
		vn.mtu, vn.maxFrame = tc.mtu, tc.mtu+18
		a.e.update(func(c *config) { c.resolve = false })
		a.inject(a.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, tc.mtu-28))
		sent := a.underlay.Transmitted()
		ip, ok := wire.ParseIPv4(sent[len(sent)-1][14:])
		if !ok || ip.TotalLen() > 1500 {
			t.Errorf("%v: sealed full-size frame is %d bytes of IPv4, want at most 1500", tc.mode, ip.TotalLen())
		}
	}
}
