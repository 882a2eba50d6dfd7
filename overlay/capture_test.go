package overlay

import (
	"bytes"
	"context"
	"testing"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

func readPcap(t *testing.T, b []byte) [][]byte {
	t.Helper()
	r, err := pcapfile.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		rec, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, rec.Data)
	}
}

func TestCaptureVnetBothDirections(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	c, err := tb.e.StartCapture(CaptureSpec{Vnet: vnet1500, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	fromVM := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 20)
	toVM := innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, 30)
	tb.inject(tb.devices[vnet1500], fromVM)
	tb.inject(tb.underlay, vudp(vnet1500, localAddr, localMAC, toVM))

	var out bytes.Buffer
	if err := c.WritePcap(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, out.Bytes())
	if len(got) != 2 || !bytes.Equal(got[0], fromVM) || !bytes.Equal(got[1], toVM) {
		t.Errorf("captured %d frames %x, want the frame from the VM then the frame to it", len(got), got)
	}
	if len(tb.e.cfg.Load().captures) != 0 {
		t.Errorf("capture still registered after its count was reached")
	}
}

func TestCaptureUnderlayOut(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	c, err := tb.e.StartCapture(CaptureSpec{Interface: "u0", Direction: CaptureOut, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	tb.e.update(func(cfg *config) { cfg.floodInterval = 0 })
	tb.inject(tb.underlay, vudp(vnet1500, localAddr, localMAC, innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, 30)))
	tb.inject(tb.devices[vnet1500], innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 3}, 20))
	sent := tb.underlay.Transmitted()
	var out bytes.Buffer
	if err := c.WritePcap(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, out.Bytes())
	if len(got) != 1 || len(sent) == 0 || !bytes.Equal(got[0], sent[0]) {
		t.Errorf("captured %x, want the first frame sent to the underlay %x", got, sent)
	}
}

func TestCaptureErrors(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	for _, spec := range []CaptureSpec{
		{},
		{Vnet: vnet2000},
		{Interface: "nosuch"},
		{Vnet: vnet1500, Interface: "u0"},
		{Vnet: vnet1500, Count: -1},
	} {
		if _, err := tb.e.StartCapture(spec); err == nil {
			t.Errorf("StartCapture(%+v) succeeded, want an error", spec)
		}
	}
}

// TestCaptureReaderBehind: frames the reader has no room for are dropped
// and counted, and the data path goes on.
func TestCaptureReaderBehind(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	c, err := tb.e.StartCapture(CaptureSpec{Vnet: vnet1500, Direction: CaptureOut})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := vudp(vnet1500, localAddr, localMAC, innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, 30))
	delivered := 0
	for i := 0; i < captureSlots+100; i++ {
		tb.inject(tb.underlay, f)
		delivered += len(tb.devices[vnet1500].Transmitted())
	}
	captured, dropped := c.Counts()
	if delivered != captureSlots+100 {
		t.Errorf("delivered %d frames, want %d: a full capture must not stop traffic", delivered, captureSlots+100)
	}
	if captured+dropped != uint64(delivered) || dropped == 0 {
		t.Errorf("captured %d + dropped %d, want %d in all with some dropped", captured, dropped, delivered)
	}
}

func TestCaptureAllocations(t *testing.T) {
	tb := newTestBed(t, vnet1500)
	c, err := tb.e.StartCapture(CaptureSpec{Vnet: vnet1500})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := vudp(vnet1500, localAddr, localMAC, innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, 30))
	tb.inject(tb.underlay, f)
	tb.devices[vnet1500].SetDiscard(true)
	q := c.queues[0]
	allocs := testing.AllocsPerRun(200, func() {
		tb.underlay.Inject(f)
		tb.w.PollOnce()
		// Return the slot, as a reader would.
		if s, ok := q.full.Dequeue(); ok {
			q.free.Enqueue(s)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per captured frame, want 0", allocs)
	}
}
