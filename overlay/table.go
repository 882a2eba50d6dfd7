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

// entryValue packs what a table entry maps to: an IPv4 address, a state
// and flags.
type entryValue uint64

const (
	flagStatic  = 1 << 0 // added by command, not learned
	flagProbing = 1 << 1
)

func makeValue(addr [4]byte, state uint8, flags uint8) entryValue {
	return entryValue(uint64(addr[0])<<24 | uint64(addr[1])<<16 | uint64(addr[2])<<8 | uint64(addr[3]) |
		uint64(state)<<32 | uint64(flags)<<40)
}

func (v entryValue) addr() [4]byte {
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
func (v entryValue) state() uint8 { return uint8(v >> 32) }
func (v entryValue) flags() uint8 { return uint8(v >> 40) }

type slot struct {
	key   atomic.Uint64
	value atomic.Uint64
	// seen is the table clock, in seconds, when the entry was last
	// confirmed.
	seen atomic.Uint32
}

// macTable maps (vnet, MAC) to an IPv4 address and a state. Lookups and
// refreshes of an entry's time are lock-free, for the workers; inserts,
// changes and deletions are serialised by a mutex and are rare in steady
// state. It is an open-addressing table with linear probing; deleted
// slots become tombstones until the table is rebuilt.
type macTable struct {
	slots atomic.Pointer[[]slot]

	mu         sync.Mutex
	used       int // live entries
	tombstones int
	perVnet    map[uint16]int
	maxEntries int
}

// newMacTable returns a table for up to maxEntries entries. The slot
// array is at least twice that, so probes stay short.
func newMacTable(maxEntries int) *macTable {
	n := 1 << bits.Len(uint(maxEntries*2-1))
	s := make([]slot, n)
	t := &macTable{perVnet: make(map[uint16]int), maxEntries: maxEntries}
	t.slots.Store(&s)
	return t
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

// set inserts or changes the entry for k. An entry for a vnet that has
// reached its share of the table is not inserted.
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
	if t.used >= t.maxEntries {
		return tableFull
	}
	if t.tombstones > len(*t.slots.Load())/4 {
		t.rebuild()
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
		t.perVnet[k.vnet()]++
		return inserted
	}
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
	if t.perVnet[k.vnet()]--; t.perVnet[k.vnet()] == 0 {
		delete(t.perVnet, k.vnet())
	}
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

// rebuild copies the live entries into a fresh slot array, dropping the
// tombstones. Readers keep using the old array until they load the new
// one; a time refresh they make on the old array in that moment is lost,
// which only makes an entry look a little older.
func (t *macTable) rebuild() {
	old := *t.slots.Load()
	fresh := make([]slot, len(old))
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
