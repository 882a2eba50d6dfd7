package pmd

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func newFakeSocket(t testing.TB, u *Umem) (*Socket, *FakeKernel) {
	t.Helper()
	s, k, err := NewFakeSocket(u, smallRings())
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestAddPortAfterStop(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	w.Stop()
	s, _ := newFakeSocket(t, w.Umem())
	_, err := w.AddPort(s, PortConfig{Name: "late"})
	if err == nil || !strings.Contains(err.Error(), "worker stopped") {
		t.Errorf("AddPort after Stop = %v, want a worker stopped error", err)
	}
	if !s.closed.Load() {
		t.Errorf("socket of the rejected port is open, want it closed")
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
}

// startWorker runs w on a new goroutine and waits until it polls.
func startWorker(t testing.TB, w *Worker) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- w.Run() }()
	deadline := time.Now().Add(5 * time.Second)
	for w.state.Load() != workerRunning {
		if time.Now().After(deadline) {
			t.Fatalf("worker not running after 5 s")
		}
		time.Sleep(100 * time.Microsecond)
	}
	return done
}

func TestAddPortAfterRunStopped(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	w.cfg.SleepTimeout = time.Millisecond
	done := startWorker(t, w)
	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s, _ := newFakeSocket(t, w.Umem())
	if _, err := w.AddPort(s, PortConfig{Name: "late"}); err == nil {
		t.Errorf("AddPort after Run returned = nil error, want an error")
	}
	if err := w.Run(); err == nil {
		t.Errorf("second Run = nil error, want an error")
	}
}

func TestControlAfterClose(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, _ := addFakePort(t, w, "a", SocketConfig{}, 32)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.RemovePort(p); err == nil {
		t.Errorf("RemovePort after Close = nil error, want an error")
	}
	if err := w.Call(func(*Worker) { t.Errorf("Call ran its function after Close") }); err == nil {
		t.Errorf("Call after Close = nil error, want an error")
	}
	if _, _, err := NewFakeSocket(w.Umem(), smallRings()); err == nil {
		t.Errorf("NewFakeSocket on a closed UMEM = nil error, want an error")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestRemovePortTwice(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, _ := addFakePort(t, w, "a", SocketConfig{}, 32)
	addFakePort(t, w, "b", SocketConfig{}, 32)
	if err := w.RemovePort(p); err != nil {
		t.Fatal(err)
	}
	err := w.RemovePort(p)
	if err == nil || !strings.Contains(err.Error(), "already removed") {
		t.Errorf("second RemovePort = %v, want an already removed error", err)
	}
	// The ID is free again; a new port takes it, and removing the old
	// port once more must not touch the new one.
	r, _ := addFakePort(t, w, "c", SocketConfig{}, 32)
	if r.ID() != p.ID() {
		t.Fatalf("new port ID = %d, want the freed ID %d", r.ID(), p.ID())
	}
	if err := w.RemovePort(p); err == nil {
		t.Errorf("RemovePort of the old port after its ID was reused = nil error, want an error")
	}
	if got := len(w.Ports()); got != 2 {
		t.Errorf("worker has %d ports, want 2", got)
	}
	checkPlaces(t, w, "after removals")
}

func TestRemovePortOfAnotherWorker(t *testing.T) {
	w1 := newFakeWorker(t, 256, &collect{})
	w2 := newFakeWorker(t, 256, &collect{})
	p, _ := addFakePort(t, w1, "a", SocketConfig{}, 32)
	addFakePort(t, w2, "b", SocketConfig{}, 32)
	if err := w2.RemovePort(p); err == nil {
		t.Errorf("RemovePort on another worker = nil error, want an error")
	}
	if got := len(w1.Ports()); got != 1 {
		t.Errorf("owning worker has %d ports, want 1", got)
	}
}

func TestAddPortSameSocketTwice(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	s, k := newFakeSocket(t, w.Umem())
	p, err := w.AddPort(s, PortConfig{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddPort(s, PortConfig{Name: "again"}); err == nil || !strings.Contains(err.Error(), "already a port") {
		t.Errorf("second AddPort of a socket = %v, want an already a port error", err)
	}
	if s.closed.Load() {
		t.Fatalf("second AddPort closed the socket of a live port")
	}
	if !k.Inject(frameOf(60, 1)) {
		t.Fatalf("Inject after the rejected AddPort = false (%v)", k)
	}
	w.pollOnce()
	if got := p.Stats.RxFrames.Load(); got != 1 {
		t.Errorf("port received %d frames, want 1", got)
	}
}

func TestAddPortOtherUmem(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	u, err := NewUmem(UmemConfig{Frames: 256, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newFakeSocket(t, u)
	if _, err := w.AddPort(s, PortConfig{Name: "x"}); err == nil {
		t.Errorf("AddPort of a socket on another UMEM = nil error, want an error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAddPortOvercommit(t *testing.T) {
	tests := []struct {
		name    string
		frames  uint32
		targets []uint32 // fill targets of the ports, each with a 64-entry TX ring
		fail    int      // index of the port that must fail, or -1
	}{
		{"two fit exactly", 256, []uint32{32, 32}, -1},
		{"third overcommits", 256, []uint32{32, 32, 32}, 2},
		{"three fit", 512, []uint32{32, 32, 32}, -1},
		{"zero target means the fill ring", 256, []uint32{0, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFakeWorker(t, tt.frames, &collect{})
			for i, target := range tt.targets {
				s, _ := newFakeSocket(t, w.Umem())
				name := "port" + string(rune('a'+i))
				_, err := w.AddPort(s, PortConfig{Name: name, FillTarget: target})
				if i != tt.fail {
					if err != nil {
						t.Fatalf("AddPort(%s) = %v, want nil", name, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("AddPort(%s) = nil error, want an overcommit error", name)
				}
				for _, part := range []string{name, "overcommit", "frames"} {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("AddPort(%s) error %q does not mention %q", name, err, part)
					}
				}
				if !errors.Is(err, ErrUmemFull) {
					t.Errorf("AddPort(%s) error %q is not ErrUmemFull", name, err)
				}
				if !s.closed.Load() {
					t.Errorf("socket of the rejected port is open, want it closed")
				}
				break
			}
			checkPlaces(t, w, "after adding")
		})
	}
}

func TestRetiredOwnerKeepsIDAndFrames(t *testing.T) {
	w := newFakeWorker(t, 512, &collect{})
	s, k := newFakeSocket(t, w.Umem())
	s.owner = true // plays the socket that registered the UMEM
	owner, err := w.AddPort(s, PortConfig{Name: "owner", FillTarget: 32})
	if err != nil {
		t.Fatal(err)
	}
	k.Inject(frameOf(60, 1))

	if err := w.RemovePort(owner); err != nil {
		t.Fatal(err)
	}
	if s.closed.Load() {
		t.Errorf("owner socket closed by RemovePort, want it kept until Close")
	}
	if _, _, kernRx, _ := w.umem.Count(); kernRx != 32 {
		t.Errorf("frames on the retired owner's rings = %d, want 32", kernRx)
	}

	p, _ := addFakePort(t, w, "next", SocketConfig{}, 32)
	if p.ID() == owner.ID() {
		t.Errorf("new port took ID %d of the retired owner", p.ID())
	}
	if err := w.RemovePort(p); err != nil {
		t.Fatal(err)
	}
	if _, _, kernRx, _ := w.umem.Count(); kernRx != 32 {
		t.Errorf("after removing another port, frames on the retired owner's rings = %d, want 32", kernRx)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !s.closed.Load() {
		t.Errorf("owner socket open after Close")
	}
	if got := w.umem.FreeFrames(); got != 512 {
		t.Errorf("free frames after Close = %d, want 512", got)
	}
}

func TestCloseDrainsTxRings(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	queueFrames(t, w, p.ID(), 10)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(k.Transmitted()); got != 10 {
		t.Errorf("frames transmitted by Close = %d, want 10", got)
	}
	if got := w.umem.FreeFrames(); got != 256 {
		t.Errorf("free frames after Close = %d, want 256", got)
	}
}

func TestCloseGivesUpDrainOnLinkDown(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, k := addFakePort(t, w, "a", SocketConfig{}, 32)
	queueFrames(t, w, p.ID(), 10)
	k.SetLinkDown(true)
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > DrainTimeout+time.Second {
		t.Errorf("Close took %v, want about DrainTimeout (%v)", d, DrainTimeout)
	}
	if got := w.umem.FreeFrames(); got != 256 {
		t.Errorf("free frames after Close = %d, want 256", got)
	}
}

func TestUmemCloseWithOpenSocket(t *testing.T) {
	u, err := NewUmem(UmemConfig{Frames: 256, FrameSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newFakeSocket(t, u)
	if err := u.Close(); err == nil || !strings.Contains(err.Error(), "1 sockets still open") {
		t.Errorf("Umem.Close with an open socket = %v, want a still open error", err)
	}
	if u.area == nil {
		t.Fatalf("Umem.Close unmapped the area while a socket was open")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Socket.Close = %v, want nil", err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("Umem.Close after the socket closed = %v, want nil", err)
	}
}

func TestSocketCloseOfPortFails(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	p, _ := addFakePort(t, w, "a", SocketConfig{}, 32)
	if err := p.Socket().Close(); err == nil {
		t.Errorf("Socket.Close of a port = nil error, want an error")
	}
}

func TestWorkerFreeFramesStat(t *testing.T) {
	w := newFakeWorker(t, 256, &collect{})
	addFakePort(t, w, "a", SocketConfig{}, 32)
	w.tick(time.Now())
	if got := w.Stats.FreeFrames.Load(); got != 224 {
		t.Errorf("Stats.FreeFrames = %d, want 224", got)
	}
}

func TestForwardAllocs(t *testing.T) {
	w, _, ka, kb := newFakePair(t, 1024)
	ka.SetDiscard(true)
	kb.SetDiscard(true)
	frame := make([]byte, 60)
	step := func() {
		for i := 0; i < 32; i++ {
			ka.Inject(frame)
			kb.Inject(frame)
		}
		w.pollOnce()
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("forwarding 64 frames allocates %v times, want 0", allocs)
	}
	if got := ka.Discarded() + kb.Discarded(); got < 200*64 {
		t.Errorf("forwarded %d frames, want at least %d", got, 200*64)
	}
}

// drop releases every frame it receives.
type drop struct{}

func (drop) Process(w *Worker, in PortID, frames []Desc) {
	for _, d := range frames {
		w.Release(d)
	}
}

func (drop) Tick(*Worker, time.Time) {}

func TestReceiveReleaseAllocs(t *testing.T) {
	w := newFakeWorker(t, 256, drop{})
	p, k := addFakePort(t, w, "a", SocketConfig{Rings: RingConfig{Fill: 64, Completion: 64, Rx: 64, Tx: 64}}, 64)
	frame := make([]byte, 60)
	step := func() {
		for i := 0; i < 64; i++ {
			k.Inject(frame)
		}
		w.pollOnce()
		w.pollOnce()
	}
	step()
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("receiving and releasing 64 frames allocates %v times, want 0", allocs)
	}
	if got := p.Stats.RxFrames.Load(); got < 200*64 {
		t.Errorf("received %d frames, want at least %d", got, 200*64)
	}
}
