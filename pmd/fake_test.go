package pmd

import (
	"bytes"
	"math/rand/v2"
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

func newFakePair(t *testing.T, frames uint32) (*Worker, *forward, *FakeKernel, *FakeKernel) {
	t.Helper()
	u, err := NewUmem(UmemConfig{Frames: frames, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	h := &forward{}
	w, err := NewWorker(WorkerConfig{CPU: -1, SpinPolls: -1}, u, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	sa, ka, err := NewFakeSocket(u, smallRings())
	if err != nil {
		t.Fatal(err)
	}
	sb, kb, err := NewFakeSocket(u, smallRings())
	if err != nil {
		t.Fatal(err)
	}
	pa, err := w.AddPort(sa, PortConfig{Name: "a", FillTarget: 32})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := w.AddPort(sb, PortConfig{Name: "b", FillTarget: 32})
	if err != nil {
		t.Fatal(err)
	}
	h.a, h.b = pa.ID(), pb.ID()
	return w, h, ka, kb
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

// TestFrameAccountingRandom drives two fake ports through random
// traffic, drops, full rings and link flaps and checks after every step
// that each frame is in exactly one place and that none leaks.
func TestFrameAccountingRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const frames = 256
	w, h, ka, kb := newFakePair(t, frames)
	kernels := []*FakeKernel{ka, kb}
	injected, delivered := 0, 0
	for step := 0; step < 20000; step++ {
		k := kernels[rng.IntN(2)]
		switch op := rng.IntN(20); {
		case op < 12:
			n := 1 + rng.IntN(80)
			for i := 0; i < n; i++ {
				b := byte(rng.IntN(256))
				if k.Inject([]byte{b, 0, 0, 0, 0, 0}) {
					injected++
				}
			}
		case op < 17:
			w.pollOnce()
		case op < 18:
			delivered += len(k.Transmitted())
		case op < 19:
			k.SetLinkDown(!k.down)
		default:
			// Leave frames on the TX ring for a while.
			w.flush()
		}
		free, held, kernRx, kernTx := w.umem.Count()
		if free+held+kernRx+kernTx != frames {
			t.Fatalf("step %d: places add up to %d, want %d", step, free+held+kernRx+kernTx, frames)
		}
		if held != 0 {
			t.Fatalf("step %d: %d frames held between batches", step, held)
		}
		if free != w.umem.FreeFrames() {
			t.Fatalf("step %d: %d frames marked free, free stack has %d", step, free, w.umem.FreeFrames())
		}
	}
	for _, k := range kernels {
		k.SetLinkDown(false)
	}
	for i := 0; i < 10; i++ {
		w.pollOnce()
		delivered += len(ka.Transmitted()) + len(kb.Transmitted())
	}
	var txFull uint64
	for _, p := range w.Ports() {
		txFull += p.Stats.TxRingFull.Load()
	}
	if got := delivered + h.dropped + int(txFull); got != injected {
		t.Errorf("delivered %d + dropped %d + tx ring full %d = %d, want %d injected",
			delivered, h.dropped, txFull, got, injected)
	}
	// Closing the ports gives every frame back.
	for _, p := range w.Ports() {
		if err := w.RemovePort(p); err != nil {
			t.Fatal(err)
		}
	}
	if free, _, _, _ := w.umem.Count(); free != frames || w.umem.FreeFrames() != frames {
		t.Errorf("after removing ports: %d free, free stack %d, want %d", free, w.umem.FreeFrames(), frames)
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
