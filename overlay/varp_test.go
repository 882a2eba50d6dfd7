package overlay

import (
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// varpPacket returns a VARP message from the remote host.
func varpPacket(op uint16, id wire.VnetID, mac wire.MAC, addr [4]byte) []byte {
	b := make([]byte, wire.VarpPacketLen)
	o := wire.Outer{EthDst: localMAC, EthSrc: remoteMAC, Src: remoteAddr, Dst: localAddr, TTL: 64, SrcPort: wire.Port, Vnet: id}
	wire.PutVarpPacket(b, &o, op, mac, addr)
	return b
}

// varpOps returns the opcode and MAC of each VARP packet.
func varpOps(t *testing.T, frames [][]byte) (ops []uint16, macs []wire.MAC) {
	t.Helper()
	for _, f := range frames {
		v, ok := wire.ParseVarp(parseOuter(t, f).udp.Payload())
		if !ok {
			t.Fatalf("not a VARP message: %x", f)
		}
		ops = append(ops, v.Opcode())
		macs = append(macs, v.MAC())
	}
	return ops, macs
}

func TestResolutionQueuesAndDelivers(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	tb.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{remoteAddr: {port: 0, mac: remoteMAC}} })
	local := wire.MAC{2, 0, 0, 0, 0, 1}
	unknown := wire.MAC{2, 0, 0, 0, 0, 0x77}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, local, 10))
	tb.underlay.Transmitted()

	for i := 0; i < 3; i++ {
		tb.inject(tb.devices[vnet1500], innerFrame(unknown, local, 20+i))
	}
	data, varp := split(t, tb.underlay.Transmitted())
	if len(data) != 0 {
		t.Errorf("sent %d data frames to an unresolved MAC, want them queued", len(data))
	}
	ops, macs := varpOps(t, varp)
	if len(ops) != 1 || ops[0] != wire.VarpRequest || macs[0] != unknown {
		t.Fatalf("VARP sent %v for %v, want one request for %v", ops, macs, unknown)
	}
	if o := parseOuter(t, varp[0]); o.ip.Dst() != wire.DefaultGroup.As4() {
		t.Errorf("request sent to %v, want the group", o.ip.Dst())
	}
	if got := tb.e.queuedByVnet(tb.vnets[vnet1500])[makeKey(1, unknown)]; got != 3 {
		t.Errorf("queued frames = %d, want 3", got)
	}

	// The announce resolves the MAC; the queued frames go out in order.
	tb.inject(tb.underlay, varpPacket(wire.VarpAnnounce, vnet1500, unknown, remoteAddr))
	tb.advance(10 * time.Millisecond)
	data, _ = split(t, tb.underlay.Transmitted())
	if len(data) != 3 {
		t.Fatalf("delivered %d queued frames, want 3", len(data))
	}
	for i, f := range data {
		o := parseOuter(t, f)
		if o.ip.Dst() != remoteAddr || o.eth.Dst() != remoteMAC {
			t.Errorf("frame %d sent to %v via %v, want %v via %v", i, o.ip.Dst(), o.eth.Dst(), remoteAddr, remoteMAC)
		}
		if got := len(o.eip.Frame()); got != 14+20+8+20+i {
			t.Errorf("frame %d has %d bytes, want the frames in the order sent", i, got)
		}
	}
}

func TestResolutionFailsAfterProbes(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	local := wire.MAC{2, 0, 0, 0, 0, 1}
	unknown := wire.MAC{2, 0, 0, 0, 0, 0x78}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, local, 10))
	tb.underlay.Transmitted()

	for i := 0; i < varpQueueLen+4; i++ {
		tb.inject(tb.devices[vnet1500], innerFrame(unknown, local, 20))
	}
	st := &tb.vnets[vnet1500].stats[0]
	if got := st.drops[dropVarpQueueFull].load(); got != 4 {
		t.Errorf("frames pushed out of the full queue = %d, want 4", got)
	}
	requests := 0
	for i := 0; i < 8; i++ {
		_, varp := split(t, tb.underlay.Transmitted())
		requests += len(varp)
		tb.advance(probeInterval * time.Second)
	}
	if requests != maxProbes {
		t.Errorf("sent %d requests, want %d", requests, maxProbes)
	}
	if got := st.drops[dropVarpFailed].load(); got != varpQueueLen {
		t.Errorf("frames dropped after failure = %d, want %d", got, varpQueueLen)
	}
	v, s := tb.vnets[vnet1500].varp.lookup(makeKey(1, unknown))
	if s == nil || v.state() != uint8(VarpFailed) {
		t.Errorf("entry state after %d probes: present %v, state %d, want failed", maxProbes, s != nil, v.state())
	}
	if free, held, _, _ := tb.w.Umem().Count(); held != 0 {
		t.Errorf("%d frames still held after the failure (free %d)", held, free)
	}

	// A new frame restarts probing once the interval has passed.
	tb.inject(tb.devices[vnet1500], innerFrame(unknown, local, 20))
	if _, varp := split(t, tb.underlay.Transmitted()); len(varp) != 1 {
		t.Errorf("a frame to a failed MAC sent %d requests, want 1 (probing starts over)", len(varp))
	}
}

func TestFloodModeFloodsUnknown(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	tb.e.update(func(c *config) { c.resolve = false })
	local := wire.MAC{2, 0, 0, 0, 0, 1}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.MAC{2, 0, 0, 0, 0, 0x79}, local, 20))
	data, _ := split(t, tb.underlay.Transmitted())
	if len(data) != 1 || parseOuter(t, data[0]).ip.Dst() != wire.DefaultGroup.As4() {
		t.Fatalf("unknown unicast in flood mode: %d frames, want 1 to the group", len(data))
	}
}

// TestMACMoveStopsReplies: a local MAC announced by another host has
// moved there, so this host stops replying for it and sends it there.
func TestMACMoveStopsReplies(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	vm := wire.MAC{2, 0, 0, 0, 0, 5}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, vm, 10))
	_, varp := split(t, tb.underlay.Transmitted())
	if ops, macs := varpOps(t, varp); len(ops) != 1 || ops[0] != wire.VarpAnnounce || macs[0] != vm {
		t.Fatalf("first frame of %v: VARP %v %v, want one announce", vm, ops, macs)
	}

	tb.inject(tb.underlay, varpPacket(wire.VarpAnnounce, vnet1500, vm, remoteAddr))
	vn := tb.vnets[vnet1500]
	if _, s := vn.vifs.lookup(makeKey(1, vm)); s != nil {
		t.Errorf("%v still local after another host announced it", vm)
	}
	if got := vn.stats[0].moved.load(); got != 1 {
		t.Errorf("moved = %d, want 1", got)
	}
	tb.inject(tb.underlay, varpPacket(wire.VarpRequest, vnet1500, vm, remoteAddr))
	if sent := tb.underlay.Transmitted(); len(sent) != 0 {
		t.Errorf("replied for a MAC that moved away")
	}
}

func TestTableLimitEvictsOldest(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	vn := tb.vnets[vnet1500]
	vn.varp.setMax(4)
	cfg := tb.e.cfg.Load()
	for i := 0; i < 10; i++ {
		tb.pipe.now = uint32(i)
		tb.pipe.learn(cfg, vn, wire.MAC{2, 0, 0, 0, 1, byte(i)}, remoteAddr)
	}
	if got := vn.varp.count(); got != 4 {
		t.Fatalf("entries = %d, want the limit 4", got)
	}
	for i := 6; i < 10; i++ {
		if _, s := vn.varp.lookup(makeKey(1, wire.MAC{2, 0, 0, 0, 1, byte(i)})); s == nil {
			t.Errorf("entry %d missing, want the 4 most recent kept", i)
		}
	}
	if got := vn.varp.evicted.Load(); got != 6 {
		t.Errorf("evicted = %d, want 6", got)
	}
}

func TestLearnRateLimit(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	tb.e.update(func(c *config) { c.learnInterval = int64(time.Second) / 100 })
	vn := tb.vnets[vnet1500]
	cfg := tb.e.cfg.Load()
	// The burst allows one second of the rate, 100 entries, at once.
	for i := 0; i < 300; i++ {
		tb.pipe.learn(cfg, vn, wire.MAC{2, 0, 0, 1, byte(i >> 8), byte(i)}, remoteAddr)
	}
	if got := vn.varp.count(); got < 100 || got > 102 {
		t.Errorf("learned %d entries in one instant at 100 per second, want about 100", got)
	}
	if got := vn.stats[0].drops[dropLearnRate].load(); got == 0 {
		t.Errorf("no learning dropped over the rate")
	}
}

func TestFloodRateLimit(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	tb.e.update(func(c *config) { c.floodInterval = int64(time.Second) / 10 })
	local := wire.MAC{2, 0, 0, 0, 0, 1}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, local, 10))
	for i := 0; i < 50; i++ {
		tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, local, 10))
	}
	data, _ := split(t, tb.underlay.Transmitted())
	if len(data) > 12 {
		t.Errorf("flooded %d frames in one instant at 10 per second, want about 10", len(data))
	}
	if got := tb.vnets[vnet1500].stats[0].drops[dropFloodRate].load(); got == 0 {
		t.Errorf("no flooding dropped over the rate")
	}
}

// TestMACFloodIsolated floods one vnet with random source MACs; the other
// vnet keeps its entries and its lookups.
func TestMACFloodIsolated(t *testing.T) {
	tb := newTestBed(t, vnet1500, vnet2000)
	a, b := tb.vnets[vnet1500], tb.vnets[vnet2000]
	a.varp.setMax(256)
	cfg := tb.e.cfg.Load()
	known := wire.MAC{2, 0, 0, 0, 9, 9}
	tb.pipe.learn(cfg, b, known, remoteAddr)
	for i := 0; i < 5000; i++ {
		tb.pipe.now = uint32(i / 100)
		tb.pipe.learn(cfg, a, wire.MAC{2, 1, byte(i >> 16), byte(i >> 8), byte(i), 1}, remoteAddr)
	}
	if got := a.varp.count(); got != 256 {
		t.Errorf("flooded vnet has %d entries, want its limit 256", got)
	}
	if v, s := b.varp.lookup(makeKey(2, known)); s == nil || v.addr() != remoteAddr {
		t.Errorf("entry of the other vnet lost in the flood")
	}
	if got := b.varp.count(); got != 1 {
		t.Errorf("other vnet has %d entries, want 1", got)
	}
}

// TestReplyOffSubnet: a request re-sent on this segment by a forwarder
// for a host in another subnet is answered through that host's next hop,
// not to the forwarder's Ethernet address.
func TestReplyOffSubnet(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	vm := wire.MAC{2, 0, 0, 0, 0, 5}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, vm, 10))
	tb.underlay.Transmitted()

	far := [4]byte{198, 18, 7, 7}
	routerMAC := wire.MAC{2, 0xaa, 0, 0, 0, 1}
	req := varpPacket(wire.VarpRequest, vnet1500, vm, far)
	copy(req[26:30], far[:])
	wire.IPv4(req[14:34]).UpdateChecksum()

	tb.inject(tb.underlay, req)
	if sent := tb.underlay.Transmitted(); len(sent) != 0 {
		t.Errorf("replied before the requester's next hop was known")
	}
	if dst, ok := tb.e.resolveQ.Dequeue(); !ok || dst != far {
		t.Errorf("resolve request = %v %v, want %v", dst, ok, far)
	}

	tb.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{far: {port: 0, mac: routerMAC}} })
	tb.inject(tb.underlay, req)
	sent := tb.underlay.Transmitted()
	if len(sent) != 1 {
		t.Fatalf("sent %d replies, want 1", len(sent))
	}
	if o := parseOuter(t, sent[0]); o.ip.Dst() != far || o.eth.Dst() != routerMAC {
		t.Errorf("reply to %v via %v, want %v via the router %v", o.ip.Dst(), o.eth.Dst(), far, routerMAC)
	}
}
