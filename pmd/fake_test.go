package pmd

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// forward sends every frame received on one port out of the other, and
// drops frames whose first byte is 0xdd.
type forward struct {
	a, b    PortID
	dropped int
}

func (f *forward) Process(w *Worker, in PortID, frames []Desc) {
	out := f.b
	if in == f.b {
		out = f.a
	}
	for _, d := range frames {
		if w.Umem().Frame(d)[0] == 0xdd {
			f.dropped++
			w.Release(d)
			continue
		}
		w.Transmit(out, d)
	}
}

func (f *forward) Tick(*Worker, time.Time) {}

func smallRings() RingConfig {
	return RingConfig{Fill: 64, Completion: 64, Rx: 64, Tx: 64}
}

func newFakeWorker(t testing.TB, frames uint32, h Handler) *Worker {
	t.Helper()
	u, err := NewUmem(UmemConfig{Frames: frames, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWorker(WorkerConfig{CPU: -1, SpinPolls: -1}, u, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func addFakePort(t testing.TB, w *Worker, name string, cfg SocketConfig, fillTarget uint32) (*Port, *FakeKernel) {
	t.Helper()
	if cfg.Rings == (RingConfig{}) {
		cfg.Rings = smallRings()
	}
	s, k, err := NewFakeSocketConfig(w.Umem(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.AddPort(s, PortConfig{Name: name, FillTarget: fillTarget})
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

func newFakePair(t testing.TB, frames uint32) (*Worker, *forward, *FakeKernel, *FakeKernel) {
	t.Helper()
	h := &forward{}
	w := newFakeWorker(t, frames, h)
	pa, ka := addFakePort(t, w, "a", SocketConfig{}, 32)
	pb, kb := addFakePort(t, w, "b", SocketConfig{}, 32)
	h.a, h.b = pa.ID(), pb.ID()
	return w, h, ka, kb
}

// checkPlaces fails the test unless every frame is in exactly one place,
// none is held between batches, and the free stack matches the places.
func checkPlaces(t testing.TB, w *Worker, when string) {
	t.Helper()
	u := w.Umem()
	free, held, kernRx, kernTx := u.Count()
	if got := free + held + kernRx + kernTx; got != int(u.Frames()) {
		t.Fatalf("%s: places add up to %d, want %d", when, got, u.Frames())
	}
	if held != 0 {
		t.Fatalf("%s: %d frames held between batches, want 0", when, held)
	}
	if free != u.FreeFrames() {
		t.Fatalf("%s: %d frames marked free, free stack has %d", when, free, u.FreeFrames())
	}
}

func TestFakeForward(t *testing.T) {
	w, _, ka, kb := newFakePair(t, 256)
	for i := 0; i < 10; i++ {
		if !ka.Inject([]byte{byte(i), 1, 2, 3}) {
			t.Fatalf("Inject(%d) = false, want true (%v)", i, ka)
		}
	}
	w.pollOnce()
	got := kb.Transmitted()
	if len(got) != 10 {
		t.Fatalf("transmitted %d frames on b, want 10", len(got))
	}
	for i, f := range got {
		if want := []byte{byte(i), 1, 2, 3}; !bytes.Equal(f, want) {
			t.Errorf("frame %d = %x, want %x", i, f, want)
		}
	}
	// Completions come back on the next poll.
	w.pollOnce()
	free, held, _, kernTx := w.umem.Count()
	if held != 0 || kernTx != 0 {
		t.Errorf("after forwarding: held %d, on tx %d, want 0 and 0", held, kernTx)
	}
	if free+64 < 256 {
		t.Errorf("free frames %d, want at least %d", free, 256-64)
	}
}

// chaos forwards each frame to the next live port and misbehaves on
// purpose according to the frame's first byte: 0xdd drops the frame,
// 0xee transmits an empty descriptor, 0xef transmits to a port that does
// not exist.
//
// It also counts the frames that reach into their port's tailroom, which
// the worker must never hand over.
type chaos struct {
	live      []PortID
	dropped   int
	misrouted int
	intoTail  int
}

func (c *chaos) Process(w *Worker, in PortID, frames []Desc) {
	i := slices.Index(c.live, in)
	out := c.live[(i+1)%len(c.live)]
	tailroom := w.ports[in].sock.cfg.Tailroom
	for _, d := range frames {
		if w.Umem().Tailroom(d.Addr, d.Len) < tailroom {
			c.intoTail++
		}
		switch w.Umem().Frame(d)[0] {
		case 0xdd:
			c.dropped++
			w.Release(d)
		case 0xee:
			w.Transmit(out, Desc{Addr: d.Addr, Len: 0})
		case 0xef:
			c.misrouted++
			w.Transmit(PortID(1<<20), d)
		default:
			w.Transmit(out, d)
		}
	}
}

func (c *chaos) Tick(*Worker, time.Time) {}

// pollWithoutReap runs a loop of the worker that leaves the completion
// rings alone, so that they fill up.
func pollWithoutReap(w *Worker) {
	for _, p := range w.ports {
		if p == nil {
			continue
		}
		p.refill(w.umem)
		if kept, _ := p.receive(w.umem, w.rx[:]); kept > 0 {
			w.handler.Process(w, p.id, w.rx[:kept])
			w.flush()
		}
	}
	w.kickAll(true)
}

// fakeLink is a port of the randomized test with its kernel.
type fakeLink struct {
	port *Port
	k    *FakeKernel
}

// lostOnRemoval returns the number of packets on the port's RX and TX
// rings, which removing the port drops without counting them.
func lostOnRemoval(l fakeLink) int {
	s := l.port.sock
	n := 0
	for i := loadU32(s.rx.consumer); i != loadU32(s.rx.producer); i++ {
		if s.rx.entries[i&s.rx.mask].Options == 0 {
			n++ // the last descriptor of a packet
		}
	}
	if l.port.inMultiBuffer && n > 0 {
		n-- // its first part was counted in RxMultiBuffer
	}
	return n + int(s.tx.pending())
}

// TestFrameAccountingRandom drives up to four fake ports through random
// traffic and failures. The failures are drops, invalid and rejected TX
// descriptors, a transmit budget, full RX, TX and completion rings,
// multi-buffer and oversize frames, links going down and up, removed
// devices, and ports removed and added in the middle. After every step
// each frame must be in exactly one place. At the end every injected
// packet must be delivered or counted as dropped. Build with -tags
// pmddebug to also check every single move of a frame.
func TestFrameAccountingRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const frames = 512
	h := &chaos{}
	w := newFakeWorker(t, frames, h)

	var links []fakeLink
	var gone []*Port
	addLink := func() {
		cfg := SocketConfig{Rings: smallRings()}
		if rng.IntN(2) == 0 {
			cfg.Tailroom = 300
		}
		s, k, err := NewFakeSocketConfig(w.Umem(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// The first socket plays the UMEM's owner, which RemovePort
		// retires instead of closing.
		s.owner = len(links)+len(gone) == 0
		p, err := w.AddPort(s, PortConfig{Name: "p", FillTarget: 32})
		if err != nil {
			t.Fatal(err)
		}
		k.SetMultiBuffer(rng.IntN(2) == 0)
		links = append(links, fakeLink{p, k})
		h.live = append(h.live, p.ID())
	}
	for i := 0; i < 3; i++ {
		addLink()
	}

	injected, delivered, lost, rejectRequests := 0, 0, 0, 0
	for step := 0; step < 20000; step++ {
		l := links[rng.IntN(len(links))]
		switch op := rng.IntN(100); {
		case op < 45:
			for n := 1 + rng.IntN(80); n > 0; n-- {
				size := 14 + rng.IntN(200)
				switch rng.IntN(40) {
				case 0:
					size = 1600 // reaches into a 300-byte tailroom
				case 1:
					size = 3000 // two descriptors
				}
				frame := make([]byte, size)
				frame[0] = []byte{0, 0, 0, 0, 0, 0xdd, 0xee, 0xef}[rng.IntN(8)]
				if l.k.Inject(frame) {
					injected++
				}
			}
		case op < 70:
			w.pollOnce()
			for _, l := range links {
				if (l.k.down || l.k.removed) && l.port.sock.tx.pending() > 0 && !l.port.LinkDown() {
					t.Fatalf("step %d: port %d has frames to send on a link that is down, LinkDown() = false, want true", step, l.port.ID())
				}
			}
		case op < 75:
			pollWithoutReap(w)
		case op < 79:
			w.flush() // leaves frames on the TX rings
		case op < 85:
			delivered += len(l.k.Transmitted())
		case op < 89:
			l.k.SetLinkDown(!l.k.down)
		case op < 91:
			n := 1 + rng.IntN(3)
			l.k.RejectTx(n)
			rejectRequests += n
		case op < 93:
			l.k.SetTxBudget([]int{0, 1, 8}[rng.IntN(3)])
		case op < 94:
			l.k.RemoveDevice()
		case op < 95:
			if len(links) == 1 {
				break
			}
			delivered += len(l.k.Transmitted())
			lost += lostOnRemoval(l)
			if err := w.RemovePort(l.port); err != nil {
				t.Fatalf("step %d: RemovePort: %v", step, err)
			}
			gone = append(gone, l.port)
			links = slices.DeleteFunc(links, func(x fakeLink) bool { return x.port == l.port })
			h.live = slices.DeleteFunc(h.live, func(id PortID) bool { return id == l.port.ID() })
		default:
			if len(links)+len(w.retired) < 4 {
				addLink()
				break
			}
			// A fifth port, retired ones included, would need
			// 5*(32+64)+64 = 544 of 512 frames.
			s, _, err := NewFakeSocket(w.Umem(), smallRings())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.AddPort(s, PortConfig{Name: "fifth"}); err == nil {
				t.Fatalf("step %d: AddPort of a fifth port = nil error, want an overcommit error", step)
			}
			if !s.closed.Load() {
				t.Fatalf("step %d: socket of the rejected port still open, want it closed", step)
			}
		}
		checkPlaces(t, w, "step "+strconv.Itoa(step))
		checkNoOrphanFrames(t, w, step)
	}

	// Bring every link back; ports of removed devices go away.
	for _, l := range slices.Clone(links) {
		if l.k.removed {
			delivered += len(l.k.Transmitted())
			lost += lostOnRemoval(l)
			if err := w.RemovePort(l.port); err != nil {
				t.Fatal(err)
			}
			gone = append(gone, l.port)
			links = slices.DeleteFunc(links, func(x fakeLink) bool { return x.port == l.port })
			h.live = slices.DeleteFunc(h.live, func(id PortID) bool { return id == l.port.ID() })
			continue
		}
		l.k.SetLinkDown(false)
	}
	for i := 0; i < 4*linkDownKickPeriod; i++ {
		w.pollOnce()
		for _, l := range links {
			delivered += len(l.k.Transmitted())
		}
	}
	for _, l := range links {
		if n := l.port.sock.tx.pending(); n != 0 {
			t.Errorf("port %d: %d frames left on the TX ring, want 0", l.port.ID(), n)
		}
	}

	var counted int
	var rejected uint64
	all := slices.Clone(gone)
	for _, l := range links {
		all = append(all, l.port)
	}
	for _, p := range all {
		s := &p.Stats
		counted += int(s.TxRingFull.Load() + s.TxInvalid.Load() + s.TxDropped.Load() + s.RxMultiBuffer.Load() + s.RxOversize.Load())
		rejected += p.sock.fake.TxInvalid
	}
	if h.intoTail != 0 {
		t.Errorf("handler got %d frames that reach into the tailroom, want 0", h.intoTail)
	}
	// The worker never passes the empty descriptors of 0xee frames on,
	// so the kernel rejects only what RejectTx asked for.
	if rejected > uint64(rejectRequests) {
		t.Errorf("kernel rejected %d TX descriptors, want at most the %d of RejectTx", rejected, rejectRequests)
	}
	if got := delivered + h.dropped + h.misrouted + counted + int(rejected) + lost; got != injected {
		t.Errorf("delivered %d + handler drops %d + misrouted %d + counted by ports %d + rejected by the kernel %d + lost on removal %d = %d, want %d injected",
			delivered, h.dropped, h.misrouted, counted, rejected, lost, got, injected)
	}

	var sum PortStats
	for _, p := range all {
		for _, c := range []struct{ to, from *counter }{
			{&sum.RxMultiBuffer, &p.Stats.RxMultiBuffer}, {&sum.RxOversize, &p.Stats.RxOversize},
			{&sum.TxInvalid, &p.Stats.TxInvalid}, {&sum.TxRingFull, &p.Stats.TxRingFull},
			{&sum.KickRetries, &p.Stats.KickRetries}, {&sum.KickErrors, &p.Stats.KickErrors},
			{&sum.TxDropped, &p.Stats.TxDropped}, {&sum.FillStarved, &p.Stats.FillStarved},
		} {
			c.to.add(c.from.Load())
		}
	}
	t.Logf("injected %d, delivered %d, ports removed %d (retired %d), lost on removal %d, rejected by the kernel %d",
		injected, delivered, len(gone), len(w.retired), lost, rejected)
	t.Logf("multi-buffer %d, oversize %d, tx invalid %d, tx ring full %d, kick retries %d, kick errors %d, tx dropped %d, fill starved %d",
		sum.RxMultiBuffer.Load(), sum.RxOversize.Load(), sum.TxInvalid.Load(), sum.TxRingFull.Load(),
		sum.KickRetries.Load(), sum.KickErrors.Load(), sum.TxDropped.Load(), sum.FillStarved.Load())

	// A received frame shows that the link is up again.
	for _, l := range links {
		if !l.k.Inject(make([]byte, 60)) {
			t.Fatalf("Inject on port %d after the links came back = false, want true (%v)", l.port.ID(), l.k)
		}
	}
	w.pollOnce()
	for _, l := range links {
		if l.port.LinkDown() {
			t.Errorf("port %d: LinkDown() = true after receiving on a link that is up, want false", l.port.ID())
		}
	}
	w.pollOnce()
	for _, l := range links {
		l.k.Transmitted()
	}

	// Removing the ports, and closing the worker for the retired owner,
	// gives every frame back.
	for _, p := range w.Ports() {
		if err := w.RemovePort(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if free, _, _, _ := w.umem.Count(); free != frames || w.umem.FreeFrames() != frames {
		t.Errorf("after Close: %d free, free stack %d, want %d", free, w.umem.FreeFrames(), frames)
	}
}

// checkNoOrphanFrames fails the test when a frame in a kernel place is
// tagged with a socket that is not a live or retired port, because such
// a frame never comes back. It also fails when a live port reuses the
// ID that the frames of a retired port carry.
func checkNoOrphanFrames(t testing.TB, w *Worker, step int) {
	t.Helper()
	for _, r := range w.retired {
		if int(r.id) < len(w.ports) && w.ports[r.id] != nil {
			t.Fatalf("step %d: port %s has the ID %d of a retired port", step, w.ports[r.id].Name(), r.id)
		}
	}
	for i, p := range w.umem.place {
		kind := p >> placeShift
		if kind != placeKernRx && kind != placeKernTx {
			continue
		}
		id := int(p & socketMask)
		if id >= len(w.ports) || (w.ports[id] == nil && !w.isRetired(id)) {
			t.Fatalf("step %d: frame %d is on a ring of socket %d, which is not a port", step, i, id)
		}
	}
}

func TestWorkerRunStop(t *testing.T) {
	w, _, ka, kb := newFakePair(t, 256)
	w.cfg.SpinPolls = 10
	w.cfg.SleepTimeout = 5 * time.Millisecond
	done := make(chan error)
	go func() { done <- w.Run() }()
	var got int
	for i := 0; i < 5; i++ {
		err := w.Call(func(*Worker) {
			ka.Inject([]byte{1, 2, 3})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for got < 5 && time.Now().Before(deadline) {
		w.Call(func(*Worker) { got += len(kb.Transmitted()) })
		time.Sleep(time.Millisecond)
	}
	if got != 5 {
		t.Errorf("forwarded %d frames while running, want 5", got)
	}
	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
