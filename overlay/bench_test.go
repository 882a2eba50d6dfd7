package overlay

import (
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Benchmarks of the pipeline's stages over fake sockets. Each iteration
// injects one frame and polls the worker once, so the figures include
// the fake kernel's copy of the frame into the UMEM and the ring work,
// which a real socket does in the kernel. 1450 bytes is the largest
// inner frame at the 1436-byte MTU of a vnet on a 1500-byte underlay.

func benchBed(b *testing.B) *testBed {
	b.Helper()
	t := &testing.T{}
	tb := newTestBed(t, vnet1500)
	tb.t = t
	tb.underlay.SetDiscard(true)
	tb.devices[vnet1500].SetDiscard(true)
	tb.e.update(func(c *config) { c.nextHops = map[[4]byte]nextHop{remoteAddr: {port: 0, mac: remoteMAC}} })
	return tb
}

func runPipeline(b *testing.B, tb *testBed, inject func() bool, size int) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !inject() {
			b.Fatal("fake kernel dropped the frame")
		}
		tb.w.PollOnce()
	}
}

func benchmarkDecap(b *testing.B, size int) {
	tb := benchBed(b)
	inner := innerFrame(wire.MAC{2, 0, 0, 0, 0, 1}, wire.MAC{2, 0, 0, 0, 0, 2}, size-42)
	f := vudp(vnet1500, localAddr, localMAC, inner)
	k := tb.underlay
	runPipeline(b, tb, func() bool { return k.Inject(f) }, size)
}

func benchmarkEncapUnicast(b *testing.B, size int) {
	tb := benchBed(b)
	remoteVM := wire.MAC{2, 0, 0, 0, 0, 2}
	tb.vnets[vnet1500].varp.set(makeKey(1, remoteVM), makeValue(remoteAddr, uint8(VarpReachable), 0), 0)
	f := innerFrame(remoteVM, wire.MAC{2, 0, 0, 0, 0, 1}, size-42)
	k := tb.devices[vnet1500]
	runPipeline(b, tb, func() bool { return k.Inject(f) }, size)
}

func benchmarkEncapFlood(b *testing.B, size int) {
	tb := benchBed(b)
	f := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, size-42)
	k := tb.devices[vnet1500]
	runPipeline(b, tb, func() bool { return k.Inject(f) }, size)
}

func BenchmarkPipelineDecap60(b *testing.B)          { benchmarkDecap(b, 60) }
func BenchmarkPipelineDecap1450(b *testing.B)        { benchmarkDecap(b, 1450) }
func BenchmarkPipelineEncapUnicast60(b *testing.B)   { benchmarkEncapUnicast(b, 60) }
func BenchmarkPipelineEncapUnicast1450(b *testing.B) { benchmarkEncapUnicast(b, 1450) }
func BenchmarkPipelineEncapFlood60(b *testing.B)     { benchmarkEncapFlood(b, 60) }

// BenchmarkVarpLookup measures the lock-free table lookup the encapsulation
// path makes per frame.
func BenchmarkVarpLookup(b *testing.B) {
	tbl := newMacTable(4096)
	for i := 0; i < 2048; i++ {
		tbl.set(makeKey(1, wire.MAC{2, 0, 0, 0, byte(i >> 8), byte(i)}), makeValue(remoteAddr, 2, 0), 0)
	}
	k := makeKey(1, wire.MAC{2, 0, 0, 0, 4, 0})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, s := tbl.lookup(k); s == nil {
			b.Fatal("entry not found")
		}
	}
}

// BenchmarkLearnRefresh measures learning from a frame whose source is
// already known at the same address: a lookup and a time refresh.
func BenchmarkLearnRefresh(b *testing.B) {
	tb := benchBed(b)
	vn := tb.vnets[vnet1500]
	mac := wire.MAC{2, 0, 0, 0, 0, 2}
	tb.pipe.learn(tb.e.cfg.Load(), vn, mac, remoteAddr)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb.pipe.learn(tb.e.cfg.Load(), vn, mac, remoteAddr)
	}
}

// BenchmarkFlowPort measures the hash of the inner flow that selects the
// outer UDP source port.
func BenchmarkFlowPort(b *testing.B) {
	f := innerFrame(wire.BroadcastMAC, wire.MAC{2, 0, 0, 0, 0, 1}, 18)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		flowPort(f)
	}
}
