package pmd

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The benchmarks count one operation per frame. The fake kernel's work
// (copying each frame into the UMEM on Inject, and its side of the
// rings) is part of the measured time.

const benchFrameLen = 60

// BenchmarkReceiveRelease receives frames on one port and releases them
// in the handler.
func BenchmarkReceiveRelease(b *testing.B) {
	w := newFakeWorker(b, 1024, drop{})
	_, k := addFakePort(b, w, "a", SocketConfig{Rings: RingConfig{Fill: 256, Completion: 64, Rx: 256, Tx: 64}}, 256)
	frame := make([]byte, benchFrameLen)
	b.ReportAllocs()
	b.SetBytes(benchFrameLen)
	b.ResetTimer()
	for i := 0; i < b.N; i += BatchSize {
		for j := 0; j < BatchSize; j++ {
			k.Inject(frame)
		}
		w.pollOnce()
	}
}

// BenchmarkForward forwards frames between two ports through the worker,
// in both directions, passing descriptors only.
func BenchmarkForward(b *testing.B) {
	w, _, ka, kb := newFakePair(b, 1024)
	ka.SetDiscard(true)
	kb.SetDiscard(true)
	frame := make([]byte, benchFrameLen)
	b.ReportAllocs()
	b.SetBytes(benchFrameLen)
	b.ResetTimer()
	for i := 0; i < b.N; i += 32 {
		for j := 0; j < 16; j++ {
			ka.Inject(frame)
			kb.Inject(frame)
		}
		w.pollOnce()
	}
	b.StopTimer()
	if got := ka.Discarded() + kb.Discarded(); got < b.N/2 {
		b.Fatalf("forwarded %d frames of %d", got, b.N)
	}
}

// BenchmarkRingOps measures one entry through a ring: produced by the
// producer side in batches of BatchSize and consumed by the consumer
// side, with the atomic index updates of both.
func BenchmarkRingOps(b *testing.B) {
	const size = 2048
	mem := alignedBytes(int(fakeRingLayout.Desc) + size*int(sizeofDesc()))
	prod := newXskRing[Desc](mem, fakeRingLayout, size, true)
	cons := newXskRing[Desc](mem, fakeRingLayout, size, false)
	var sum uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += BatchSize {
		n := prod.free(BatchSize)
		if n > BatchSize {
			n = BatchSize
		}
		for j := uint32(0); j < n; j++ {
			prod.put(j, unix.XDPDesc{Addr: uint64(j) << 11, Len: benchFrameLen})
		}
		prod.submit(n)
		m := cons.available(BatchSize)
		for j := uint32(0); j < m; j++ {
			sum += cons.get(j).Addr
		}
		cons.release(m)
	}
	_ = sum
}
