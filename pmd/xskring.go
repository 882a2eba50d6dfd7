package pmd

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Desc describes a frame in a UMEM: the address of its first byte, its
// length, and the options word (XDP_PKT_CONTD for multi-buffer frames).
type Desc = unix.XDPDesc

// xskRing is one of the four single-producer, single-consumer rings an
// AF_XDP socket shares with the kernel. User space produces on the fill
// and TX rings and consumes the RX and completion rings. Each side keeps
// a cached copy of the other side's index and reads the shared one only
// when the cached value shows the ring full or empty.
type xskRing[T any] struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	entries  []T
	mask     uint32
	size     uint32
	// cachedProd and cachedCons are this side's view of the indices:
	// the local index is exact, the other side's may lag.
	cachedProd uint32
	cachedCons uint32
	mem        []byte
}

func newXskRing[T any](mem []byte, off unix.XDPRingOffset, size uint32, producerSide bool) *xskRing[T] {
	prod, cons, flags, ents := ringView[T](mem, off, size)
	r := &xskRing[T]{
		producer: prod,
		consumer: cons,
		flags:    flags,
		entries:  ents,
		mask:     size - 1,
		size:     size,
		mem:      mem,
	}
	r.cachedProd = atomic.LoadUint32(prod)
	r.cachedCons = atomic.LoadUint32(cons)
	if producerSide {
		// A producer may fill everything the consumer has not yet
		// handed back; the cached consumer is kept size ahead so that
		// free space is cachedCons - cachedProd.
		r.cachedCons += size
	}
	return r
}

// free returns how many entries a producer can write without waiting,
// refreshing the consumer index when fewer than n seem free.
func (r *xskRing[T]) free(n uint32) uint32 {
	f := r.cachedCons - r.cachedProd
	if f >= n {
		return f
	}
	r.cachedCons = atomic.LoadUint32(r.consumer) + r.size
	return r.cachedCons - r.cachedProd
}

// put writes v at the i-th free slot past the producer index. The entry
// is not visible to the kernel until submit.
func (r *xskRing[T]) put(i uint32, v T) {
	r.entries[(r.cachedProd+i)&r.mask] = v
}

// submit publishes n written entries.
func (r *xskRing[T]) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// available returns how many entries a consumer can read, refreshing the
// producer index when fewer than n seem available.
func (r *xskRing[T]) available(n uint32) uint32 {
	a := r.cachedProd - r.cachedCons
	if a >= n {
		return a
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	return r.cachedProd - r.cachedCons
}

// queued returns how many entries the producer published that this
// consumer has not released yet, reading the shared producer index. It
// is meaningful on the consumer side only.
func (r *xskRing[T]) queued() uint32 {
	return atomic.LoadUint32(r.producer) - r.cachedCons
}

// get returns the i-th available entry past the consumer index.
func (r *xskRing[T]) get(i uint32) T {
	return r.entries[(r.cachedCons+i)&r.mask]
}

// release hands n read entries back to the producer.
func (r *xskRing[T]) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// needWakeup reports whether the kernel set XDP_RING_NEED_WAKEUP.
func (r *xskRing[T]) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// pending returns how many produced entries the kernel has not consumed
// yet. It is meaningful on the producer side only.
func (r *xskRing[T]) pending() uint32 {
	return r.cachedProd - atomic.LoadUint32(r.consumer)
}

// outstanding lists the entries between the kernel's consumer index and
// the producer index, which the kernel has not read. It is meaningful on
// the producer side only, after the kernel stopped using the ring.
func (r *xskRing[T]) outstanding(visit func(T)) {
	for i := atomic.LoadUint32(r.consumer); i != r.cachedProd; i++ {
		visit(r.entries[i&r.mask])
	}
}

func loadU32(p *uint32) uint32     { return atomic.LoadUint32(p) }
func storeU32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
