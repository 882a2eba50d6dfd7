package overlay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay/esp"
	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
	"github.com/vnet-xdp/vnet/ring"
)

// testBed is an engine whose single worker polls fake sockets: one
// underlay port and one vnet device per vnet.
type testBed struct {
	t        *testing.T
	e        *Engine
	w        *pmd.Worker
	pipe     *pipeline
	underlay *pmd.FakeKernel
	devices  map[wire.VnetID]*pmd.FakeKernel
	vnets    map[wire.VnetID]*vnet
	// clock is the time the worker's ticks see; tests advance it.
	clock time.Time
}

var (
	localAddr  = [4]byte{198, 18, 0, 2}
	remoteAddr = [4]byte{198, 18, 0, 1}
	localMAC   = wire.MAC{0x7a, 0x00, 0xed, 0x9f, 0x16, 0x4f}
	remoteMAC  = wire.MAC{0x2a, 0x8c, 0x92, 0xd0, 0x9d, 0x18}
	vnet1500   = wire.VnetIDFromUint16(0x1500)
	vnet2000   = wire.VnetIDFromUint16(0x2000)
)

func smallRings() pmd.RingConfig { return pmd.RingConfig{Fill: 256, Completion: 256, Rx: 256, Tx: 256} }

func newTestBed(t *testing.T, ids ...wire.VnetID) *testBed {
	t.Helper()
	return newTestBedAt(t, localAddr, localMAC, ids...)
}

// newTestBedAt is newTestBed for a host with another underlay address
// and MAC, to test two hosts against each other.
func newTestBedAt(t *testing.T, addr [4]byte, mac wire.MAC, ids ...wire.VnetID) *testBed {
	t.Helper()
	q, err := ring.NewMPSC[[4]byte](64)
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{
		sad:         esp.NewSAD(esp.Config{}),
		log:         zap.NewNop(),
		resolveWake: make(chan struct{}, 1),
		resolveQ:    q,
		start:       time.Now(),
		conf:        Config{EntryTTL: DefaultEntryTTL},
		limits:      DefaultLimits,
	}
	u, err := pmd.NewUmem(pmd.UmemConfig{Frames: 2048, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	pipe := newPipeline(e, 0, u)
	w, err := pmd.NewWorker(pmd.WorkerConfig{CPU: -1, SpinPolls: -1}, u, pipe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	e.workers = []*engineWorker{{w: w, pipe: pipe}}
	tb := &testBed{t: t, e: e, w: w, pipe: pipe, devices: map[wire.VnetID]*pmd.FakeKernel{}, vnets: map[wire.VnetID]*vnet{}, clock: e.start}

	// Fake sockets all carry the interface name "fake"; distinct queue
	// numbers keep their metrics apart.
	s, k, err := pmd.NewFakeSocketConfig(u, pmd.SocketConfig{Rings: smallRings(), Queue: 0})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.AddPort(s, pmd.PortConfig{Name: "u0", FillTarget: 128})
	if err != nil {
		t.Fatal(err)
	}
	tb.underlay = k
	up := &underlayPort{index: 0, name: "u0", ifindex: 2, mac: mac, addr: addr, prefix: netip.MustParsePrefix("198.18.0.0/24"),
		mtu: 1500, ports: []pmd.PortID{p.ID()}}
	group := wire.DefaultGroup.As4()
	cfg := &config{
		group:    group,
		groupMAC: wire.MulticastMAC(group),
		groupTTL: 1,
		underlay: []*underlayPort{up},
		local:    [][4]byte{addr},
		vnets:    map[wire.VnetID]*vnet{},
		nextHops: map[[4]byte]nextHop{},
		bindings: make([][]binding, 1),
		resolve:  true,
	}
	setBinding(cfg, 0, p.ID(), binding{kind: bindUnderlay, underlay: 0})
	e.underlay = []*underlayState{{port: up}}
	e.vnets = map[wire.VnetID]*vnetState{}
	for i, id := range ids {
		s, k, err := pmd.NewFakeSocketConfig(u, pmd.SocketConfig{Rings: smallRings(), Queue: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.AddPort(s, pmd.PortConfig{Name: id.DefaultDevice(), FillTarget: 64})
		if err != nil {
			t.Fatal(err)
		}
		vn := &vnet{id: id, index: uint16(i + 1), device: id.DefaultDevice(), mtu: 1436, maxFrame: 1436 + 18,
			ports: []pmd.PortID{p.ID()}, stats: make([]vnetStats, 1),
			varp: newMacTable(DefaultLimits.MaxVarpEntries), vifs: newMacTable(DefaultLimits.MaxVifs),
			limiters: make([]vnetLimiters, 1)}
		cfg.vnets[id] = vn
		e.vnets[id] = &vnetState{vn: vn}
		setBinding(cfg, 0, p.ID(), binding{kind: bindDevice, vnet: vn})
		tb.devices[id] = k
		tb.vnets[id] = vn
	}
	e.cfg.Store(cfg)
	return tb
}

// poll runs the worker until its rings are quiet, with a tick at the
// test bed's clock before each loop.
func (tb *testBed) poll() {
	for i := 0; i < 4; i++ {
		tb.pipe.Tick(tb.w, tb.clock)
		tb.w.PollOnce()
	}
}

// advance moves the clock forward and polls.
func (tb *testBed) advance(d time.Duration) {
	tb.clock = tb.clock.Add(d)
	tb.poll()
}

func (tb *testBed) inject(k *pmd.FakeKernel, frame []byte) {
	tb.t.Helper()
	if !k.Inject(frame) {
		tb.t.Fatalf("inject %d-byte frame: dropped by the fake kernel (%v)", len(frame), k)
	}
	tb.poll()
}

// innerFrame returns an Ethernet frame carrying an IPv4 UDP datagram
// with a complete checksum.
func innerFrame(dst, src wire.MAC, payload int) []byte {
	f := make([]byte, 14+20+8+payload)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], wire.EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+payload))
	ip[8] = 64
	ip[9] = wire.ProtoUDP
	copy(ip[12:16], []byte{198, 19, 0, 1})
	copy(ip[16:20], []byte{198, 19, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^wire.Fold(wire.Checksum(ip[:20], 0)))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 5000)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+payload))
	for i := range payload {
		udp[8+i] = byte(i)
	}
	sum := wire.Checksum(udp, 0) + uint32(binary.BigEndian.Uint16(ip[12:]))
	sum += uint32(binary.BigEndian.Uint16(ip[14:])) + uint32(binary.BigEndian.Uint16(ip[16:])) +
		uint32(binary.BigEndian.Uint16(ip[18:])) + wire.ProtoUDP + uint32(8+payload)
	binary.BigEndian.PutUint16(udp[6:], ^wire.Fold(sum))
	return f
}

// vudp returns an underlay frame from remote to dst carrying inner on
// vnet id.
func vudp(id wire.VnetID, dst [4]byte, ethDst wire.MAC, inner []byte) []byte {
	b := make([]byte, wire.EncapLen+len(inner))
	o := wire.Outer{EthDst: ethDst, EthSrc: remoteMAC, Src: remoteAddr, Dst: dst, TTL: 64, SrcPort: wire.Port, Vnet: id}
	wire.PutVUDP(b, &o, len(inner))
	copy(b[wire.EncapLen:], inner)
	return b
}

// split separates transmitted underlay frames into data (VUDP) and VARP
// packets.
func split(t *testing.T, frames [][]byte) (data, varp [][]byte) {
	t.Helper()
	for _, f := range frames {
		o := parseOuter(t, f)
		id, _, _ := wire.ParseMsgHeader(o.udp.Payload())
		switch id {
		case wire.MsgVUDP:
			data = append(data, f)
		case wire.MsgVARP:
			varp = append(varp, f)
		default:
			t.Fatalf("unexpected message id %d in %x", id, f)
		}
	}
	return data, varp
}

type outer struct {
	eth wire.Ethernet
	ip  wire.IPv4
	udp wire.UDP
	eip wire.EtherIP
}

func parseOuter(t *testing.T, f []byte) outer {
	t.Helper()
	eth, ok := wire.ParseEthernet(f)
	if !ok {
		t.Fatalf("transmitted frame too short: %x", f)
	}
	ip, ok := wire.ParseIPv4(f[14:])
	if !ok {
		t.Fatalf("transmitted frame has no valid IPv4 header: %x", f)
	}
	udp, ok := wire.ParseUDP(ip.Payload())
	if !ok {
		t.Fatalf("transmitted frame has no valid UDP header: %x", f)
	}
	id, _, _ := wire.ParseMsgHeader(udp.Payload())
	if id != wire.MsgVUDP {
		return outer{eth: eth, ip: ip, udp: udp}
	}
	eip, ok := wire.ParseEtherIP(udp.Payload()[4:])
	if !ok {
		t.Fatalf("transmitted frame has no valid EtherIP header: %x", f)
	}
	return outer{eth: eth, ip: ip, udp: udp, eip: eip}
}

func TestEncapBroadcastToGroup(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	vmMAC := wire.MAC{0x02, 0, 0, 0, 0, 1}
	inner := innerFrame(wire.BroadcastMAC, vmMAC, 18)
	tb.inject(tb.devices[vnet1500], inner)

	sent, announces := split(t, tb.underlay.Transmitted())
	if len(sent) != 1 {
		t.Fatalf("underlay transmitted %d data frames, want 1", len(sent))
	}
	if len(announces) != 1 {
		t.Errorf("underlay transmitted %d announces of the new MAC, want 1", len(announces))
	}
	o := parseOuter(t, sent[0])
	group := wire.DefaultGroup.As4()
	if got := o.ip.Dst(); got != group {
		t.Errorf("outer destination = %v, want the group %v", got, group)
	}
	if got, want := o.eth.Dst(), wire.MulticastMAC(group); got != want {
		t.Errorf("outer Ethernet destination = %v, want %v", got, want)
	}
	if got := o.eth.Src(); got != localMAC {
		t.Errorf("outer Ethernet source = %v, want %v", got, localMAC)
	}
	if got := o.ip.Src(); got != localAddr {
		t.Errorf("outer source = %v, want %v", got, localAddr)
	}
	if got := o.ip.TTL(); got != 1 {
		t.Errorf("group TTL = %d, want 1", got)
	}
	if !o.ip.DontFragment() {
		t.Errorf("DF clear, want set")
	}
	if got := o.udp.DstPort(); got != wire.Port {
		t.Errorf("UDP destination port = %d, want %d", got, wire.Port)
	}
	if got := o.udp.Payload()[2:6]; !bytes.Equal(got, []byte{0, 0, 0x00, 0x40}) {
		t.Errorf("opcode and EtherIP word = %x, want 00000040", got)
	}
	if got := o.eip.Vnet(); got != vnet1500 {
		t.Errorf("vnet id = %v, want %v", got, vnet1500)
	}
	if got := o.eip.Frame(); !bytes.Equal(got, inner) {
		t.Errorf("inner frame = %x, want %x", got, inner)
	}
	if _, s := tb.vnets[vnet1500].vifs.lookup(makeKey(1, vmMAC)); s == nil {
		t.Errorf("source MAC %v not recorded as a local vif", vmMAC)
	}
	if got := tb.vnets[vnet1500].stats[0].flooded.load(); got != 1 {
		t.Errorf("flooded = %d, want 1", got)
	}
}

func TestDecapLearnsAndDelivers(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	remoteVM := wire.MAC{0x02, 0, 0, 0, 0, 2}
	localVM := wire.MAC{0x02, 0, 0, 0, 0, 1}
	inner := innerFrame(localVM, remoteVM, 100)
	tb.inject(tb.underlay, vudp(vnet1500, localAddr, localMAC, inner))

	got := tb.devices[vnet1500].Transmitted()
	if len(got) != 1 || !bytes.Equal(got[0], inner) {
		t.Fatalf("device received %x, want one frame %x", got, inner)
	}
	v, s := tb.vnets[vnet1500].varp.lookup(makeKey(1, remoteVM))
	if s == nil {
		t.Fatalf("no VARP entry learned for %v", remoteVM)
	}
	if v.addr() != remoteAddr || v.state() != uint8(VarpReachable) {
		t.Errorf("learned %v state %d, want %v reachable", v.addr(), v.state(), remoteAddr)
	}

	// A reply to the learned MAC goes by unicast once the next hop is
	// known, and floods while it is not.
	reply := innerFrame(remoteVM, localVM, 10)
	tb.inject(tb.devices[vnet1500], reply)
	sent, _ := split(t, tb.underlay.Transmitted())
	if len(sent) != 1 {
		t.Fatalf("underlay transmitted %d frames, want 1", len(sent))
	}
	if o := parseOuter(t, sent[0]); o.ip.Dst() != wire.DefaultGroup.As4() {
		t.Errorf("unresolved next hop: destination %v, want the group", o.ip.Dst())
	}
	if dst, ok := tb.e.resolveQ.Dequeue(); !ok || dst != remoteAddr {
		t.Errorf("resolve request = %v %v, want %v", dst, ok, remoteAddr)
	}

	tb.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{remoteAddr: {port: 0, mac: remoteMAC}} })
	tb.inject(tb.devices[vnet1500], reply)
	sent, _ = split(t, tb.underlay.Transmitted())
	if len(sent) != 1 {
		t.Fatalf("underlay transmitted %d frames, want 1", len(sent))
	}
	o := parseOuter(t, sent[0])
	if o.ip.Dst() != remoteAddr || o.eth.Dst() != remoteMAC {
		t.Errorf("unicast to %v via %v, want %v via %v", o.ip.Dst(), o.eth.Dst(), remoteAddr, remoteMAC)
	}
	if o.ip.TTL() != wire.DefaultTTL {
		t.Errorf("unicast TTL = %d, want %d", o.ip.TTL(), wire.DefaultTTL)
	}
}

func TestDecapDrops(t *testing.T) {
	inner := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 9}, 10)
	other := [4]byte{198, 18, 0, 99}
	tests := []struct {
		name  string
		frame []byte
		drop  dropReason
	}{
		{"unknown vnet", vudp(vnet2000, localAddr, localMAC, inner), dropUnknownVnet},
		{"not for us", vudp(vnet1500, other, localMAC, inner), dropNotForUs},
		{"own traffic", func() []byte {
			f := vudp(vnet1500, wire.DefaultGroup.As4(), localMAC, inner)
			copy(f[26:30], localAddr[:])
			wire.IPv4(f[14:34]).UpdateChecksum()
			return f
		}(), dropOwnTraffic},
		{"truncated", vudp(vnet1500, localAddr, localMAC, inner)[:60], dropMalformed},
		{"arp", func() []byte {
			f := make([]byte, 60)
			binary.BigEndian.PutUint16(f[12:], wire.EtherTypeARP)
			return f
		}(), dropNotVnet},
		{"fragment of other protocol", func() []byte {
			f := vudp(vnet1500, localAddr, localMAC, inner)
			f[14+6] |= 0x20 // more fragments
			f[14+9] = wire.ProtoTCP
			wire.IPv4(f[14:34]).UpdateChecksum()
			return f
		}(), dropNotVnet},
		{"forward from stranger", func() []byte {
			f := vudp(vnet1500, localAddr, localMAC, inner)
			binary.BigEndian.PutUint16(f[42:], wire.MsgVFWD)
			return f
		}(), dropNotFromPeer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBed(t, vnet1500)
			tb.inject(tb.underlay, tt.frame)
			if got := tb.devices[vnet1500].Transmitted(); len(got) != 0 {
				t.Errorf("delivered %d frames, want none", len(got))
			}
			if got := tb.pipe.stats.drops[tt.drop].load(); got != 1 {
				t.Errorf("drops[%v] = %d, want 1", tt.drop, got)
			}
			if free, held, _, _ := tb.w.Umem().Count(); held != 0 || free == 0 {
				t.Errorf("frames held after the drop: %d", held)
			}
		})
	}
}

func TestVarpRequestAnswered(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	vm := wire.MAC{0xd6, 0x6c, 0xf5, 0x3d, 0x51, 0x3d}
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, vm, 10))
	tb.underlay.Transmitted()

	req := make([]byte, wire.VarpPacketLen)
	o := wire.Outer{EthDst: localMAC, EthSrc: remoteMAC, Src: remoteAddr, Dst: localAddr, TTL: 64, SrcPort: 40952, Vnet: vnet1500}
	wire.PutVarpPacket(req, &o, wire.VarpRequest, vm, remoteAddr)
	tb.inject(tb.underlay, req)
	sent := tb.underlay.Transmitted()
	if len(sent) != 1 {
		t.Fatalf("sent %d replies, want 1", len(sent))
	}
	r := parseOuter(t, sent[0])
	if r.ip.Dst() != remoteAddr || r.eth.Dst() != remoteMAC || r.udp.DstPort() != wire.Port {
		t.Errorf("reply to %v %v port %d, want %v %v port %d", r.ip.Dst(), r.eth.Dst(), r.udp.DstPort(), remoteAddr, remoteMAC, wire.Port)
	}
	v, ok := wire.ParseVarp(r.udp.Payload())
	if !ok {
		t.Fatalf("reply is not a VARP message: %x", r.udp.Payload())
	}
	if v.Opcode() != wire.VarpAnnounce || v.MAC() != vm || v.Addr() != localAddr || v.Vnet() != vnet1500 {
		t.Errorf("reply opcode %d mac %v addr %v vnet %v, want announce of %v at %v on %v",
			v.Opcode(), v.MAC(), v.Addr(), v.Vnet(), vm, localAddr, vnet1500)
	}

	// A request for a MAC that is not local gets no reply.
	wire.PutVarpPacket(req, &o, wire.VarpRequest, wire.MAC{2, 9, 9, 9, 9, 9}, remoteAddr)
	tb.inject(tb.underlay, req)
	if sent := tb.underlay.Transmitted(); len(sent) != 0 {
		t.Errorf("replied to a request for a MAC that is not local")
	}
}

func TestVarpAnnounceLearned(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	mac := wire.MAC{2, 1, 2, 3, 4, 5}
	announced := [4]byte{198, 18, 0, 7}
	ann := make([]byte, wire.VarpPacketLen)
	o := wire.Outer{EthDst: localMAC, EthSrc: remoteMAC, Src: remoteAddr, Dst: localAddr, TTL: 64, SrcPort: wire.Port, Vnet: vnet1500}
	wire.PutVarpPacket(ann, &o, wire.VarpAnnounce, mac, announced)
	tb.inject(tb.underlay, ann)
	v, s := tb.vnets[vnet1500].varp.lookup(makeKey(1, mac))
	if s == nil || v.addr() != announced {
		t.Errorf("after announce: entry %v %v, want address %v", s != nil, v.addr(), announced)
	}
}

func TestEncapCompletesPartialChecksum(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	inner := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 33)
	// Leave only the pseudo-header sum, as a sender with checksum offload
	// does.
	ip := inner[14:]
	sum := uint32(binary.BigEndian.Uint16(ip[12:])) + uint32(binary.BigEndian.Uint16(ip[14:])) +
		uint32(binary.BigEndian.Uint16(ip[16:])) + uint32(binary.BigEndian.Uint16(ip[18:])) + wire.ProtoUDP + 41
	binary.BigEndian.PutUint16(ip[26:], wire.Fold(sum))
	if wire.L4ChecksumValid(inner) {
		t.Fatal("test frame already has a valid checksum")
	}
	tb.inject(tb.devices[vnet1500], inner)
	sent, _ := split(t, tb.underlay.Transmitted())
	if len(sent) != 1 {
		t.Fatalf("sent %d frames, want 1", len(sent))
	}
	if got := parseOuter(t, sent[0]).eip.Frame(); !wire.L4ChecksumValid(got) {
		t.Errorf("inner UDP checksum still invalid after encapsulation: %x", got)
	}
}

// TestCaptureReplay feeds every frame of a capture of the original vnetd
// to the data path: nothing may crash, the malformed frames are counted,
// and the data frames are delivered.
func TestCaptureReplay(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	f, err := os.Open("testdata/xen-vnetd-two-hosts.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames, delivered int
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
		// Frames the capture's host 198.18.0.2 sent would be our own;
		// the XDP program steers only received vnet traffic, but the
		// data path must cope with anything.
		if !tb.underlay.Inject(rec.Data) {
			t.Fatalf("frame %d dropped by the fake kernel", frames)
		}
		tb.poll()
		delivered += len(tb.devices[vnet1500].Transmitted())
		tb.underlay.Transmitted()
	}
	if frames != 34 {
		t.Fatalf("read %d frames, want 34", frames)
	}
	s := tb.pipe.stats
	// Frames 29 and 31 (EtherIP words 40 00 and 00 30), 32 (message id
	// 4) and 33 (a 14-byte VARP message) are malformed. Frame 34, a cut
	// VFWD, comes from a host that is not a peer and is dropped first.
	if got := s.drops[dropMalformed].load(); got != 4 {
		t.Errorf("malformed drops = %d, want 4", got)
	}
	for _, r := range []wire.Reason{wire.ReasonEtherIPVersion, wire.ReasonMsgID, wire.ReasonVarp} {
		want := uint64(1)
		if r == wire.ReasonEtherIPVersion {
			want = 2
		}
		if got := s.malformed[r].load(); got != want {
			t.Errorf("malformed[%v] = %d, want %d", r, got, want)
		}
	}
	if got := s.drops[dropNotFromPeer].load(); got != 1 {
		t.Errorf("not-from-peer drops = %d, want 1", got)
	}
	// Frames from 198.18.0.1 to 198.18.0.2 or the group: 5, 7, 9, 11,
	// 13, 16, 17, 19 and the valid probes 28 and 30.
	if delivered != 10 {
		t.Errorf("delivered %d inner frames, want 10", delivered)
	}
	if got := s.varpRequestsIn.load(); got != 2 {
		t.Errorf("VARP requests = %d, want 2", got)
	}
	if free, held, _, _ := tb.w.Umem().Count(); held != 0 || free == 0 {
		t.Errorf("%d frames held after the replay", held)
	}
}

func TestDataPathAllocations(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	remoteVM := wire.MAC{0x02, 0, 0, 0, 0, 2}
	localVM := wire.MAC{0x02, 0, 0, 0, 0, 1}
	down := vudp(vnet1500, localAddr, localMAC, innerFrame(localVM, remoteVM, 64))
	up := innerFrame(remoteVM, localVM, 64)
	tb.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{remoteAddr: {port: 0, mac: remoteMAC}} })
	tb.inject(tb.underlay, down)
	tb.devices[vnet1500].Transmitted()
	tb.underlay.SetDiscard(true)
	tb.devices[vnet1500].SetDiscard(true)
	allocs := testing.AllocsPerRun(1000, func() {
		tb.underlay.Inject(down)
		tb.devices[vnet1500].Inject(up)
		tb.w.PollOnce()
		tb.w.PollOnce()
	})
	if allocs != 0 {
		t.Errorf("decapsulate and encapsulate: %v allocations per frame pair, want 0", allocs)
	}
	if got := tb.underlay.Discarded(); got < 1000 {
		t.Errorf("underlay sent %d frames, want at least 1000", got)
	}
	if got := tb.devices[vnet1500].Discarded(); got < 1000 {
		t.Errorf("device received %d frames, want at least 1000", got)
	}
}
