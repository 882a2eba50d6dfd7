package pmd

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// collect keeps copies of the frames it receives and releases them.
type collect struct {
	frames [][]byte
}

func (c *collect) Process(w *Worker, in PortID, frames []Desc) {
	for _, d := range frames {
		c.frames = append(c.frames, bytes.Clone(w.Umem().Frame(d)))
		w.Release(d)
	}
}

func (c *collect) Tick(*Worker, time.Time) {}

func frameOf(size int, first byte) []byte {
	f := make([]byte, size)
	f[0] = first
	return f
}

func TestReceiveDropsMultiBuffer(t *testing.T) {
	tests := []struct {
		name string
		// before is the number of single frames injected before the
		// multi-buffer frame; 63 makes its descriptors span two batches.
		before int
		size   int
		want   int // descriptors of the multi-buffer frame
	}{
		{"two descriptors", 0, 3000, 2},
		{"three descriptors", 3, 5000, 3},
		{"split across batches", 63, 3000, 2},
		{"last descriptor full", 1, 2 * 1792, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &collect{}
			w := newFakeWorker(t, 512, h)
			p, k := addFakePort(t, w, "a", SocketConfig{Rings: RingConfig{Fill: 128, Completion: 64, Rx: 128, Tx: 64}}, 128)
			k.SetMultiBuffer(true)
			for i := 0; i < tt.before; i++ {
				if !k.Inject(frameOf(60, 1)) {
					t.Fatalf("Inject(single %d) = false (%v)", i, k)
				}
			}
			if !k.Inject(frameOf(tt.size, 2)) {
				t.Fatalf("Inject(%d bytes) = false (%v)", tt.size, k)
			}
			if got := int(k.sock.rx.queued()); got != tt.before+tt.want {
				t.Fatalf("RX ring holds %d descriptors, want %d", got, tt.before+tt.want)
			}
			if !k.Inject(frameOf(60, 3)) {
				t.Fatalf("Inject(single after) = false (%v)", k)
			}
			for i := 0; i < 3; i++ {
				w.pollOnce()
			}

			if got, want := len(h.frames), tt.before+1; got != want {
				t.Errorf("handler got %d frames, want %d", got, want)
			}
			for i, f := range h.frames {
				if f[0] == 2 {
					t.Errorf("handler got frame %d from the multi-buffer frame (%d bytes)", i, len(f))
				}
			}
			if n := len(h.frames); n == 0 || h.frames[n-1][0] != 3 {
				t.Errorf("handler did not get the frame after the multi-buffer frame")
			}
			if got := p.Stats.RxMultiBuffer.Load(); got != 1 {
				t.Errorf("RxMultiBuffer = %d, want 1", got)
			}
			if got, want := p.Stats.RxFrames.Load(), uint64(tt.before+1); got != want {
				t.Errorf("RxFrames = %d, want %d", got, want)
			}
			checkPlaces(t, w, "after polling")
			if _, held, kernRx, _ := w.umem.Count(); held != 0 || kernRx != 128 {
				t.Errorf("held %d, on fill and RX rings %d, want 0 and 128", held, kernRx)
			}
		})
	}
}

func TestReceiveDropsIntoTailroom(t *testing.T) {
	tests := []struct {
		name     string
		tailroom uint32
		size     int
		dropped  bool
	}{
		{"no tailroom, full frame", 0, 1792, false},
		{"fits exactly", 300, 1792 - 300, false},
		{"one byte into the tailroom", 300, 1792 - 299, true},
		{"full frame", 300, 1792, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &collect{}
			w := newFakeWorker(t, 256, h)
			p, k := addFakePort(t, w, "a", SocketConfig{Tailroom: tt.tailroom}, 32)
			if !k.Inject(frameOf(tt.size, 1)) {
				t.Fatalf("Inject(%d bytes) = false (%v)", tt.size, k)
			}
			w.pollOnce()
			want := 1
			if tt.dropped {
				want = 0
			}
			if len(h.frames) != want {
				t.Errorf("handler got %d frames, want %d", len(h.frames), want)
			}
			if got := p.Stats.RxOversize.Load(); got != uint64(1-want) {
				t.Errorf("RxOversize = %d, want %d", got, 1-want)
			}
			checkPlaces(t, w, "after polling")
		})
	}
}

// sendDesc transmits one descriptor built from a fresh frame.
type sendDesc struct {
	to   PortID
	make func(addr uint64) Desc
}

func (s *sendDesc) Process(w *Worker, in PortID, frames []Desc) {
	for _, d := range frames {
		w.Release(d)
	}
}

func (s *sendDesc) Tick(w *Worker, _ time.Time) {
	addr, ok := w.Umem().Alloc()
	if !ok {
		return
	}
	d := s.make(addr)
	w.Transmit(s.to, d)
	if d.Addr >= uint64(len(w.Umem().area)) {
		// The descriptor pointed elsewhere; the frame is still held.
		w.Release(Desc{Addr: addr})
	}
}

func TestTransmitRejectsInvalidDescriptors(t *testing.T) {
	tests := []struct {
		name  string
		make  func(addr uint64) Desc
		valid bool
	}{
		{"valid", func(a uint64) Desc { return Desc{Addr: a, Len: 60} }, true},
		{"whole frame after headroom", func(a uint64) Desc { return Desc{Addr: a, Len: 1792} }, true},
		{"into the headroom", func(a uint64) Desc { return Desc{Addr: a - 100, Len: 1892} }, true},
		{"empty", func(a uint64) Desc { return Desc{Addr: a, Len: 0} }, false},
		{"past the frame end", func(a uint64) Desc { return Desc{Addr: a, Len: 1793} }, false},
		{"options set", func(a uint64) Desc { return Desc{Addr: a, Len: 60, Options: unix.XDP_PKT_CONTD} }, false},
		{"outside the UMEM", func(a uint64) Desc { return Desc{Addr: 1 << 40, Len: 60} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &sendDesc{make: tt.make}
			w := newFakeWorker(t, 256, h)
			p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
			h.to = p.ID()
			freeBefore := w.umem.FreeFrames()
			w.tick(time.Now())
			w.pollOnce()
			w.pollOnce()

			wantSent := 0
			if tt.valid {
				wantSent = 1
			}
			if got := len(k.Transmitted()); got != wantSent {
				t.Errorf("transmitted %d frames, want %d", got, wantSent)
			}
			if got := p.Stats.TxInvalid.Load(); got != uint64(1-wantSent) {
				t.Errorf("TxInvalid = %d, want %d", got, 1-wantSent)
			}
			if k.TxInvalid != 0 {
				t.Errorf("kernel counted %d invalid descriptors, want 0", k.TxInvalid)
			}
			checkPlaces(t, w, "after transmitting")
			if tt.make(FrameHeadroom).Addr < uint64(len(w.umem.area)) {
				if got := w.umem.FreeFrames(); got != freeBefore {
					t.Errorf("free frames %d, want %d as before", got, freeBefore)
				}
			}
		})
	}
}

// queueFrames puts n frames of 60 bytes on port to's TX ring through
// the worker, without kicking.
func queueFrames(t *testing.T, w *Worker, to PortID, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		addr, ok := w.umem.Alloc()
		if !ok {
			t.Fatalf("no free frame for frame %d", i)
		}
		w.Umem().Bytes(addr, 60)[0] = byte(i)
		w.Transmit(to, Desc{Addr: addr, Len: 60})
	}
	w.flush()
}

func TestKernelRejectStrandsFrameUntilRemoval(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	k.RejectTx(1)
	queueFrames(t, w, p.ID(), 3)
	w.pollOnce()
	w.pollOnce()

	if got := len(k.Transmitted()); got != 2 {
		t.Errorf("transmitted %d frames, want 2", got)
	}
	if _, _, _, kernTx := w.umem.Count(); kernTx != 1 {
		t.Errorf("frames on TX or completion rings = %d, want 1 rejected frame", kernTx)
	}
	if err := w.RemovePort(p); err != nil {
		t.Fatal(err)
	}
	if got := w.umem.FreeFrames(); got != 256 {
		t.Errorf("free frames after RemovePort = %d, want 256", got)
	}
}

func TestKickRetriesOnBudget(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	k.SetTxBudget(8)
	queueFrames(t, w, p.ID(), 20)
	for i := 0; i < 3; i++ {
		w.pollOnce()
	}
	if got := len(k.Transmitted()); got != 20 {
		t.Errorf("transmitted %d frames, want 20", got)
	}
	if got := p.Stats.KickRetries.Load(); got != 2 {
		t.Errorf("KickRetries = %d, want 2 (budget 8, 20 frames)", got)
	}
	if got := p.Stats.Kicks.Load(); got != 1 {
		t.Errorf("Kicks = %d, want 1", got)
	}
}

func TestKickRetriesOnFullCompletionRing(t *testing.T) {
	w := newFakeWorker(t, 512, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	k.SetDiscard(true)
	queueFrames(t, w, p.ID(), 64)
	w.kickAll(true) // fills the completion ring
	queueFrames(t, w, p.ID(), 10)
	w.kickAll(true)

	if got := p.Stats.KickRetries.Load(); got != 1 {
		t.Errorf("KickRetries = %d, want 1", got)
	}
	if got := p.sock.tx.pending(); got != 10 {
		t.Errorf("TX ring holds %d frames, want 10 behind the full completion ring", got)
	}
	w.pollOnce() // reaps, then kicks
	w.pollOnce()
	if got := k.Discarded(); got != 74 {
		t.Errorf("transmitted %d frames, want 74", got)
	}
	checkPlaces(t, w, "after draining")
}

func TestRefillCountsRxRing(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	if got := k.FillLevel(); got != 32 {
		t.Fatalf("fill ring after AddPort = %d, want 32", got)
	}
	for i := 0; i < 20; i++ {
		k.Inject(frameOf(60, 1))
	}
	p.refill(w.umem)
	if got := k.FillLevel() + int(p.sock.rx.queued()); got != 32 {
		t.Errorf("fill + RX rings after refill = %d, want the fill target 32", got)
	}
	w.pollOnce()
	if got := k.FillLevel(); got != 32 {
		t.Errorf("fill ring after receiving = %d, want 32", got)
	}
}

// holder keeps a newly allocated frame for every frame it receives, and
// releases the received ones, so that the free frames run out.
type holder struct {
	held []Desc
}

func (h *holder) Process(w *Worker, in PortID, frames []Desc) {
	for _, d := range frames {
		addr, ok := w.Umem().Alloc()
		if !ok {
			w.Release(d)
			continue
		}
		h.held = append(h.held, Desc{Addr: addr})
		w.Release(d)
	}
}

func (h *holder) Tick(*Worker, time.Time) {}

func TestRefillWithFewFreeFrames(t *testing.T) {
	// The handler holds frames itself, more than the overcommit check
	// accounts for, until the fill target exceeds the free frames.
	h := &holder{}
	w := newFakeWorker(t, 256, h)
	p, k := addFakePort(t, w, "a", SocketConfig{}, 64)
	for round := 0; round < 10; round++ {
		for i := 0; i < 64; i++ {
			k.Inject(frameOf(60, 1))
		}
		w.pollOnce()
	}
	if p.Stats.FillStarved.Load() == 0 {
		t.Fatalf("FillStarved = 0, want refills cut short (free frames %d)", w.umem.FreeFrames())
	}
	if got := w.umem.FreeFrames(); got != 0 {
		t.Errorf("free frames = %d, want 0", got)
	}
	for _, d := range h.held {
		w.umem.Release(d.Addr)
	}
	h.held = nil
	w.pollOnce()
	if got := k.FillLevel(); got != 64 {
		t.Errorf("fill ring after frames came back = %d, want 64", got)
	}
	checkPlaces(t, w, "after release")
}

func TestPortLinkDown(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)

	// Readers on other goroutines, for the race detector.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.LinkDown()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	steps := []struct {
		name   string
		change func()
		send   int
		want   bool
	}{
		{"up, nothing to send", func() {}, 0, false},
		{"down, nothing to send", func() { k.SetLinkDown(true) }, 0, false},
		{"down, frames to send", func() {}, 3, true},
		{"up again", func() { k.SetLinkDown(false) }, 0, false},
		{"device removed", func() { k.RemoveDevice() }, 1, true},
	}
	for _, s := range steps {
		s.change()
		queueFrames(t, w, p.ID(), s.send)
		for i := 0; i < linkDownKickPeriod; i++ {
			w.pollOnce()
		}
		if got := p.LinkDown(); got != s.want {
			t.Errorf("%s: LinkDown() = %v, want %v", s.name, got, s.want)
		}
	}
	if got := p.Stats.KickErrors.Load(); got == 0 {
		t.Errorf("KickErrors = 0, want the failed kicks counted")
	}
}

func TestLinkDownKicksAreSpaced(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	k.SetLinkDown(true)
	queueFrames(t, w, p.ID(), 1)
	for i := 0; i < 4*linkDownKickPeriod; i++ {
		w.pollOnce()
	}
	// The first kick finds the link down; later ones come every
	// linkDownKickPeriod loops.
	if got := p.Stats.KickErrors.Load(); got != 5 {
		t.Errorf("KickErrors after %d loops = %d, want 5", 4*linkDownKickPeriod, got)
	}
}

func TestRxBatchHistogram(t *testing.T) {
	w := newFakeWorker(t, 512, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{Rings: RingConfig{Fill: 128, Completion: 64, Rx: 128, Tx: 64}}, 128)
	for _, n := range []int{1, 2, 3, 64, 100} {
		for i := 0; i < n; i++ {
			k.Inject(frameOf(60, 1))
		}
		w.pollOnce()
		w.pollOnce()
	}
	// 100 frames arrive as a batch of 64 and one of 36.
	want := [RxBatchBuckets]uint64{0: 1, 1: 2, 5: 1, 6: 2}
	for i := range want {
		if got := p.Stats.RxBatchSizes[i].Load(); got != want[i] {
			t.Errorf("RxBatchSizes[%d] = %d, want %d", i, got, want[i])
		}
	}
	if got := p.Stats.Batches.Load(); got != 6 {
		t.Errorf("Batches = %d, want 6", got)
	}
}

func TestFakeStatisticsReachPortStats(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	k.SetLinkDown(true)
	k.Inject(frameOf(60, 1))
	p.refreshKernelStats()
	if got := p.Stats.KernRxDropped.Load(); got != 1 {
		t.Errorf("KernRxDropped = %d, want 1", got)
	}
}
