package overlay

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// macKey packs a vnet's table index (16 bits) and a MAC address (48
// bits). Index 0 is never used, so key 0 marks an empty slot.
type macKey uint64

func makeKey(vnet uint16, mac wire.MAC) macKey {
	return macKey(uint64(vnet)<<48 | uint64(mac[0])<<40 | uint64(mac[1])<<32 |
		uint64(mac[2])<<24 | uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5]))
}

func (k macKey) vnet() uint16 { return uint16(k >> 48) }

func (k macKey) mac() wire.MAC {
	return wire.MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

const (
	keyEmpty     macKey = 0
	keyTombstone macKey = 1<<64 - 1
)

// entryValue packs what a table entry maps to: an IPv4 address, a state,
// flags and, for an entry being resolved, the number of requests sent.
type entryValue uint64

const (
	flagStatic  = 1 << 0 // added by command, not learned
	flagProbing = 1 << 1 // VARP requests are outstanding
)

func makeValue(addr [4]byte, state uint8, flags uint8) entryValue {
	return entryValue(uint64(addr[0])<<24 | uint64(addr[1])<<16 | uint64(addr[2])<<8 | uint64(addr[3]) |
		uint64(state)<<32 | uint64(flags)<<40)
}

func (v entryValue) addr() [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
func (v entryValue) state() uint8  { return uint8(v >> 32) }
func (v entryValue) flags() uint8  { return uint8(v >> 40) }
func (v entryValue) probes() uint8 { return uint8(v >> 48) }

func (v entryValue) withProbes(n uint8) entryValue {
	return v&^(0xff<<48) | entryValue(n)<<48
}

type slot struct {
	key   atomic.Uint64
	value atomic.Uint64
	// seen is the table clock, in seconds, when the entry was last
	// confirmed.
	seen atomic.Uint32
}

// macTable maps MAC addresses of one vnet to an IPv4 address and a
// state. Lookups and refreshes of an entry's time are lock-free, for the
// workers. Inserts, changes and deletions are serialised by a mutex and
// are rare in steady state. It is an open-addressing table with linear
// probing whose slot array doubles as it fills, up to twice maxEntries
// slots; deleted slots become tombstones until the next rebuild.
type macTable struct {
	slots atomic.Pointer[[]slot]

	mu         sync.Mutex
	used       int // live entries
	tombstones int
	maxEntries atomic.Int64
	evicted    atomic.Uint64
}

const minTableSlots = 16

// newMacTable returns an empty table for up to maxEntries entries.
func newMacTable(maxEntries int) *macTable {
	s := make([]slot, minTableSlots)
	t := &macTable{}
	t.maxEntries.Store(int64(maxEntries))
	t.slots.Store(&s)
	return t
}

// setMax changes the maximum number of entries. Entries beyond a lower
// maximum are evicted, least recently used first.
func (t *macTable) setMax(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxEntries.Store(int64(n))
	for t.used > n {
		if !t.evictOldest() {
			break
		}
	}
}

func hashKey(k macKey) uint64 {
	// A multiplicative hash spreads MAC addresses that differ only in
	// their low bytes.
	h := uint64(k) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// lookup returns the value and the slot of key, or nil.
func (t *macTable) lookup(k macKey) (entryValue, *slot) {
	slots := *t.slots.Load()
	mask := uint64(len(slots) - 1)
	for i, n := hashKey(k)&mask, 0; n < len(slots); i, n = (i+1)&mask, n+1 {
		s := &slots[i]
		key := macKey(s.key.Load())
		if key == keyEmpty {
			return 0, nil
		}
		if key != k {
			continue
		}
		v := entryValue(s.value.Load())
		if macKey(s.key.Load()) != k {
			// The slot was reused while we read it.
			return 0, nil
		}
		return v, s
	}
	return 0, nil
}

// touch records that the entry in s was confirmed at now.
func touch(s *slot, now uint32) {
	if s.seen.Load() != now {
		s.seen.Store(now)
	}
}

// insertResult says what set did.
type insertResult int

const (
	inserted insertResult = iota
	updated
	unchanged
	tableFull
)

// set inserts or changes the entry for k. When the table is full, the
// least recently confirmed entry that is neither static nor probing is
// evicted to make room; if there is none, nothing is inserted.
func (t *macTable) set(k macKey, v entryValue, now uint32) insertResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, s := t.lookup(k); s != nil {
		s.seen.Store(now)
		if old == v {
			return unchanged
		}
		s.value.Store(uint64(v))
		return updated
	}
	return t.insert(k, v, now)
}

// insert adds an entry that is not in the table. The caller holds t.mu.
func (t *macTable) insert(k macKey, v entryValue, now uint32) insertResult {
	if t.used >= int(t.maxEntries.Load()) && !t.evictOldest() {
		return tableFull
	}
	n := len(*t.slots.Load())
	switch {
	case (t.used+1)*2 > n && n < t.maxSlots():
		t.rebuild(n * 2)
	case t.tombstones > n/4:
		t.rebuild(n)
	}
	slots := *t.slots.Load()
	mask := uint64(len(slots) - 1)
	for i := hashKey(k) & mask; ; i = (i + 1) & mask {
		s := &slots[i]
		key := macKey(s.key.Load())
		if key != keyEmpty && key != keyTombstone {
			continue
		}
		if key == keyTombstone {
			t.tombstones--
		}
		// Publish the value before the key, so a reader that finds the
		// key reads a complete entry.
		s.value.Store(uint64(v))
		s.seen.Store(now)
		s.key.Store(uint64(k))
		t.used++
		return inserted
	}
}

// maxSlots is the largest slot array: twice the maximum number of
// entries, so that probes stay short in a full table.
func (t *macTable) maxSlots() int {
	m := int(t.maxEntries.Load())
	if m < 1 {
		m = 1
	}
	return max(minTableSlots, 1<<bits.Len(uint(2*m-1)))
}

// evictOldest removes the entry confirmed longest ago that is neither
// static nor probing, and reports whether it found one. The caller holds
// t.mu. The scan costs one pass over the slots; it runs only when a
// table is full, which learning rate limits keep rare.
func (t *macTable) evictOldest() bool {
	slots := *t.slots.Load()
	var victim *slot
	var oldest uint32
	for i := range slots {
		s := &slots[i]
		k := macKey(s.key.Load())
		if k == keyEmpty || k == keyTombstone {
			continue
		}
		if entryValue(s.value.Load()).flags()&(flagStatic|flagProbing) != 0 {
			continue
		}
		if seen := s.seen.Load(); victim == nil || seen < oldest {
			victim, oldest = s, seen
		}
	}
	if victim == nil {
		return false
	}
	t.removeSlot(victim, macKey(victim.key.Load()))
	t.evicted.Add(1)
	return true
}

// remove deletes the entry for k and reports whether there was one.
func (t *macTable) remove(k macKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, s := t.lookup(k)
	if s == nil {
		return false
	}
	t.removeSlot(s, k)
	return true
}

func (t *macTable) removeSlot(s *slot, k macKey) {
	s.key.Store(uint64(keyTombstone))
	t.used--
	t.tombstones++
}

// removeIf deletes every entry for which drop returns true and returns
// how many it deleted.
func (t *macTable) removeIf(drop func(k macKey, v entryValue, seen uint32) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	slots := *t.slots.Load()
	n := 0
	for i := range slots {
		s := &slots[i]
		k := macKey(s.key.Load())
		if k == keyEmpty || k == keyTombstone {
			continue
		}
		if drop(k, entryValue(s.value.Load()), s.seen.Load()) {
			t.removeSlot(s, k)
			n++
		}
	}
	return n
}

// rebuild copies the live entries into a fresh array of n slots,
// dropping the tombstones. Readers keep using the old array until they
// load the new one. A time refresh they make on the old array in that
// moment is lost, which only makes an entry look a little older.
func (t *macTable) rebuild(n int) {
	old := *t.slots.Load()
	fresh := make([]slot, n)
	mask := uint64(len(fresh) - 1)
	for i := range old {
		k := macKey(old[i].key.Load())
		if k == keyEmpty || k == keyTombstone {
			continue
		}
		for j := hashKey(k) & mask; ; j = (j + 1) & mask {
			if fresh[j].key.Load() == uint64(keyEmpty) {
				fresh[j].value.Store(old[i].value.Load())
				fresh[j].seen.Store(old[i].seen.Load())
				fresh[j].key.Store(uint64(k))
				break
			}
		}
	}
	t.tombstones = 0
	t.slots.Store(&fresh)
}

// tableEntry is a copy of one entry, for listing.
type tableEntry struct {
	key   macKey
	value entryValue
	seen  uint32
}

// entries returns a copy of every live entry.
func (t *macTable) entries() []tableEntry {
	slots := *t.slots.Load()
	var out []tableEntry
	for i := range slots {
		k := macKey(slots[i].key.Load())
		if k == keyEmpty || k == keyTombstone {
			continue
		}
		out = append(out, tableEntry{key: k, value: entryValue(slots[i].value.Load()), seen: slots[i].seen.Load()})
	}
	return out
}

// count returns the number of live entries.
func (t *macTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.used
}

// update replaces the value of k with change(old) if k is present and
// change reports true, and returns the new value. It is how workers move
// an entry through the resolution states without racing each other.
func (t *macTable) update(k macKey, now uint32, change func(old entryValue, seen uint32) (entryValue, bool)) (entryValue, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, s := t.lookup(k)
	if s == nil {
		return 0, false
	}
	v, ok := change(old, s.seen.Load())
	if !ok {
		return old, false
	}
	s.value.Store(uint64(v))
	s.seen.Store(now)
	return v, true
}
