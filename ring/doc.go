// Package ring provides bounded FIFO rings that pass values between
// goroutines with atomic operations only, without a lock, a channel
// operation or an allocation per item.
//
// Three variants cover the common shapes of traffic between busy-polling
// workers and the control goroutine:
//
//   - SPSC: one producer goroutine and one consumer goroutine.
//   - MPSC: any number of producers and one consumer.
//   - MPMC: any number of producers and consumers.
//
// "Single" is a contract that the ring does not check: at most one
// goroutine may call the producer methods (Enqueue, EnqueueBatch) at a time,
// and likewise for the consumer methods (Dequeue, DequeueBatch). A role may
// move to another goroutine if the hand-over itself synchronizes, for example
// through a channel or a mutex. Len and Cap are safe from any goroutine.
// When calls that break the contract overlap, the race detector reports a
// data race inside the ring.
//
// All rings have a power-of-two capacity, so a position maps to a slot with a
// mask. Positions are 64-bit counters that only grow, so they do not wrap in
// practice (2^64 items at 10^9 items per second take about 585 years), and
// differences between them stay correct even if they did.
//
// # SPSC
//
// The producer owns the tail position and the consumer owns the head. Each
// side also keeps a private copy of the other side's position and reloads
// the shared one only when its copy makes the ring look full (producer) or
// empty (consumer), or too full or too empty for a whole batch. While the
// ring is neither, each side works on its own cache lines and the slots.
//
// # MPSC and MPMC
//
// These follow the bounded MPMC queue design published by Dmitry Vyukov. Every
// slot carries a sequence number that records which lap of the ring the slot is
// ready for. A slot for position p starts with sequence p. A producer that
// finds sequence == p claims the position by advancing the shared tail with
// a compare-and-swap, writes the value, and sets the sequence to p+1. A
// consumer that finds sequence == p+1 claims the position by advancing the
// head, moves the value out, and sets the sequence to p+capacity, which is
// the position the slot takes on the next lap. A sequence behind the expected
// value means the ring is full (producer) or empty (consumer). A sequence
// ahead of it means another goroutine claimed the position first, so the
// caller reloads the shared position and tries again. Producers and consumers
// therefore never read each other's position. The batch methods check the
// sequences of several consecutive slots and then claim all of them with one
// compare-and-swap. The single consumer of an MPSC ring claims slots without
// a compare-and-swap. A batch still stores every slot's sequence with its
// own atomic store on each side (a locked XCHG instruction on amd64), so it
// saves far less per value than an SPSC batch, which stores one position.
//
// NOTE: Like Vyukov's design, MPSC and MPMC are not lock-free in the strict
// sense. A goroutine that is descheduled after claiming a position and before
// publishing its sequence holds up the other side at that slot: consumers see
// the ring as empty there, or producers see it as full, until it runs again.
// No caller ever spins on it, because Enqueue and Dequeue report the ring as
// full or empty instead of waiting.
//
// # Memory layout
//
// Positions written by different sides sit in separate 128-byte blocks,
// and so does the read-only part (mask and slot array). A cache line is 64
// bytes on x86-64, but Intel documents that the L2 spatial prefetcher
// (Sandy Bridge and later) fetches the 128-byte aligned pair of a line. Two
// hot fields 64 bytes apart can then still slow each other down, and some
// arm64 cores (Apple M series) have 128-byte lines. The cost is about 0.5 KiB
// per ring. The slots themselves are not padded, because padding each slot
// would multiply the memory of the ring.
//
// Dequeued slots are set to the zero value, so a ring does not keep the
// objects that its values point to alive.
package ring
