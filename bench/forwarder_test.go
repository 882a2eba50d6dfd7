package bench

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// rig is a worker with two fake sockets, in and out, and one of the
// handlers of this package.
type rig struct {
	w       *pmd.Worker
	u       *pmd.Umem
	in, out *pmd.FakeKernel
	encap   *Encapsulator
}

var (
	testRings  = pmd.RingConfig{Fill: 256, Completion: 256, Rx: 256, Tx: 256}
	remoteAddr = [4]byte{198, 18, 9, 2}
)

// newRig builds a worker whose handler is made by kind: "forward",
// "drop" or "encap".
func newRig(tb testing.TB, kind string) *rig {
	tb.Helper()
	u, err := pmd.NewUmem(pmd.UmemConfig{Frames: 2048, FrameSize: 2048})
	if err != nil {
		tb.Fatal(err)
	}
	r := &rig{u: u}
	fwd := &Forwarder{}
	var h pmd.Handler
	switch kind {
	case "forward":
		h = fwd
	case "drop":
		h = Dropper{}
	case "encap":
		r.encap = &Encapsulator{
			Umem:   u,
			Routes: map[wire.MAC][4]byte{macB: remoteAddr},
			Outer:  wire.Outer{EthSrc: macA, EthDst: macB, Src: [4]byte{198, 18, 9, 1}, TTL: 64, SrcPort: wire.Port, Vnet: wire.VnetIDFromUint16(0x1500)},
		}
		h = r.encap
	default:
		tb.Fatalf("unknown handler %q", kind)
	}
	w, err := pmd.NewWorker(pmd.WorkerConfig{CPU: -1, SpinPolls: -1}, u, h)
	if err != nil {
		u.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	r.w = w
	sIn, kIn, err := pmd.NewFakeSocket(u, testRings)
	if err != nil {
		tb.Fatal(err)
	}
	pIn, err := w.AddPort(sIn, pmd.PortConfig{Name: "in"})
	if err != nil {
		tb.Fatal(err)
	}
	sOut, kOut, err := pmd.NewFakeSocket(u, testRings)
	if err != nil {
		tb.Fatal(err)
	}
	pOut, err := w.AddPort(sOut, pmd.PortConfig{Name: "out", FillTarget: 64})
	if err != nil {
		tb.Fatal(err)
	}
	fwd.In, fwd.Out = pIn.ID(), pOut.ID()
	if r.encap != nil {
		r.encap.In, r.encap.Out = pIn.ID(), pOut.ID()
	}
	r.in, r.out = kIn, kOut
	return r
}

var (
	macA = wire.MAC{2, 0, 0, 0, 9, 1}
	macB = wire.MAC{2, 0, 0, 0, 9, 2}
)

func testFrame(tb testing.TB, size int, dst wire.MAC) []byte {
	tb.Helper()
	f, err := UDPFrame(size, Endpoint{MAC: macA, Addr: [4]byte{198, 19, 9, 1}, Port: 5000}, Endpoint{MAC: dst, Addr: [4]byte{198, 19, 9, 2}, Port: 9})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// pass injects frames into the input socket and polls until the worker
// is quiet.
func (r *rig) pass(tb testing.TB, frames ...[]byte) {
	tb.Helper()
	for _, f := range frames {
		if !r.in.Inject(f) {
			tb.Fatalf("inject %d-byte frame: dropped by the fake kernel (%v)", len(f), r.in)
		}
	}
	for i := 0; i < 4; i++ {
		r.w.PollOnce()
	}
}

func TestForwarderMovesFramesUnchanged(t *testing.T) {
	r := newRig(t, "forward")
	frames := [][]byte{testFrame(t, 60, macB), testFrame(t, 1514, macB)}
	r.pass(t, frames...)
	got := r.out.Transmitted()
	if len(got) != len(frames) {
		t.Fatalf("forwarder transmitted %d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Errorf("frame %d transmitted as %x, want %x", i, got[i], frames[i])
		}
	}
	r.checkQuiet(t)
}

// checkQuiet checks that no frame is held by the worker or waiting for a
// transmit completion.
func (r *rig) checkQuiet(t *testing.T) {
	t.Helper()
	if _, held, _, kernTx := r.u.Count(); held != 0 || kernTx != 0 {
		t.Errorf("Umem.Count: %d frames held and %d in transmission, want 0 and 0", held, kernTx)
	}
}

func TestDropperReleasesFrames(t *testing.T) {
	r := newRig(t, "drop")
	r.pass(t, testFrame(t, 60, macB), testFrame(t, 60, macB))
	if got := r.out.Transmitted(); len(got) != 0 {
		t.Errorf("dropper transmitted %d frames, want 0", len(got))
	}
	r.checkQuiet(t)
}

func TestEncapsulatorWritesVUDP(t *testing.T) {
	r := newRig(t, "encap")
	inner := testFrame(t, 60, macB)
	unknown := testFrame(t, 60, wire.MAC{2, 0, 0, 0, 9, 9})
	r.pass(t, inner, unknown)
	got := r.out.Transmitted()
	if len(got) != 1 {
		t.Fatalf("encapsulator transmitted %d frames, want 1", len(got))
	}
	f := got[0]
	if len(f) != wire.EncapLen+len(inner) {
		t.Fatalf("encapsulated length = %d, want %d", len(f), wire.EncapLen+len(inner))
	}
	if !bytes.Equal(f[wire.EncapLen:], inner) {
		t.Errorf("inner frame = %x, want %x", f[wire.EncapLen:], inner)
	}
	ip, ok := wire.ParseIPv4(f[wire.EthHeaderLen:])
	if !ok {
		t.Fatalf("ParseIPv4(%x) failed", f[wire.EthHeaderLen:])
	}
	if ip.Dst() != remoteAddr {
		t.Errorf("outer destination = %v, want %v", ip.Dst(), remoteAddr)
	}
	udp, ok := wire.ParseUDP(ip.Payload())
	if !ok || udp.DstPort() != wire.Port {
		t.Errorf("outer UDP = %x, want destination port %d", ip.Payload()[:8], wire.Port)
	}
	if r.encap.Unknown != 1 {
		t.Errorf("Unknown = %d, want 1 (the frame without a route)", r.encap.Unknown)
	}
}

func TestHandlersAllocateNothing(t *testing.T) {
	for _, kind := range []string{"forward", "drop", "encap"} {
		t.Run(kind, func(t *testing.T) {
			r := newRig(t, kind)
			r.out.SetDiscard(true)
			f := testFrame(t, 60, macB)
			r.pass(t, f)
			allocs := testing.AllocsPerRun(200, func() {
				r.in.Inject(f)
				r.w.PollOnce()
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocations per frame, want 0", kind, allocs)
			}
		})
	}
}

// benchmarkWorkers runs n workers at once, each with its own UMEM and
// fake sockets, and reports the wall time per frame over all workers.
func benchmarkWorkers(b *testing.B, kind string, n int) {
	const size = 60
	rigs := make([]*rig, n)
	for i := range rigs {
		rigs[i] = newRig(b, kind)
		rigs[i].out.SetDiscard(true)
	}
	f := testFrame(b, size, macB)
	b.ReportAllocs()
	b.SetBytes(size)
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, r := range rigs {
		share := b.N / n
		if i == 0 {
			share += b.N % n
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < share; {
				batch := min(pmd.BatchSize, share-done)
				for j := 0; j < batch && r.in.Inject(f); j++ {
					done++
				}
				r.w.PollOnce()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mframes/s")
}

// BenchmarkWorkersForward and BenchmarkWorkersEncap show how the
// dataplane scales from one to two workers: ns/op is wall time per frame
// over all workers, so two workers that scale perfectly halve it.
func BenchmarkWorkersForward(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkWorkers(b, "forward", n) })
	}
}

func BenchmarkWorkersEncap(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkWorkers(b, "encap", n) })
	}
}
