package esp

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
)

// Defaults of Config.
const (
	DefaultMaxSAs     = 4096
	DefaultMaxRetired = 65536
	DefaultTrialRate  = 1000
	DefaultTrialBurst = 64
)

// Config bounds the state and the work of a SAD. Zero fields select the
// defaults.
type Config struct {
	// MaxSAs is the number of inbound SAs kept with their keys and replay
	// windows. When a new SA would exceed it, the least recently used SA
	// is retired. An SA takes 0.75 KiB (auth) to 1.2 KiB (conf), as
	// measured with Go 1.26 on amd64.
	MaxSAs int
	// MaxRetired is the number of retired SAs remembered by SPI, source
	// address and highest accepted sequence number, about 50 bytes each. A
	// retired SA accepts only numbers above that one, so captured traffic
	// cannot be replayed after its SA left the table. Beyond MaxRetired
	// the oldest is forgotten, and its old packets would be accepted
	// again once each.
	MaxRetired int
	// TrialRate is the number of key trials per second that each Opener
	// may spend on packets of unknown SAs, and TrialBurst the number it may
	// spend at once. A trial derives the SA keys of one vnet and checks the
	// packet, a few microseconds.
	TrialRate  int
	TrialBurst int
}

func (c Config) withDefaults() Config {
	if c.MaxSAs <= 0 {
		c.MaxSAs = DefaultMaxSAs
	}
	if c.MaxRetired <= 0 {
		c.MaxRetired = DefaultMaxRetired
	}
	if c.TrialRate <= 0 {
		c.TrialRate = DefaultTrialRate
	}
	if c.TrialBurst <= 0 {
		c.TrialBurst = DefaultTrialBurst
	}
	return c
}

// SAD is the inbound security association database of a host: the SAs of
// every host that sends on this host's secure vnets, looked up by SPI and
// outer source address, each with its anti-replay window.
//
// Senders pick their SPIs at random and no handshake announces them, so an
// SA is created on the first packet that one of the registered vnet keys
// authenticates. Workers read the SA table without locks, while creating,
// retiring and removing SAs copies it under a mutex.
type SAD struct {
	cfg  Config
	sas  atomic.Pointer[map[saID]*inboundSA]
	keys atomic.Pointer[[]*Key]

	// mu serialises the writers of sas and keys, and guards the fields
	// below.
	mu      sync.Mutex
	retired map[saID]retiredSA
	// ring lists retired ids in the order they were retired, so that the
	// oldest is forgotten first. retiredCount is the number ever retired.
	ring         []saID
	retiredCount uint64
	openers      map[*Opener]struct{}
	// pending are SAs that left the table while an Open may still use
	// them. Each is zeroed once every Opener has ticked after its epoch.
	pending      []pendingSA
	pendingCount atomic.Int64
	// epoch counts the SAs that left the table. Each Opener records it at
	// every Tick, and a pending SA is zeroed once every Opener has recorded
	// its epoch or a later one (quiescent-state-based reclamation).
	epoch atomic.Uint64
}

// pendingSA is an SA waiting to be zeroed.
type pendingSA struct {
	sa    *inboundSA
	epoch uint64
}

// inboundSA is an SA that another host sends with.
type inboundSA struct {
	*saMaterial
	// vnetKey is the key of the vnet the SA belongs to.
	vnetKey *Key
	// lastUsed is the time, in Unix seconds, of the last accepted packet.
	lastUsed atomic.Int64

	mu  sync.Mutex
	win window
	// retired is set when the SA leaves the table for the retired list.
	retired bool
	// top is win.top, readable without mu.
	top atomic.Uint64
}

// retiredSA is the record a SAD keeps of an SA it retired.
type retiredSA struct {
	key *Key
	top uint64
	// pos is the retiredCount at which the entry was made, to tell it
	// from a later entry for the same id when its ring slot is reused.
	pos uint64
}

// NewSAD returns an empty SAD.
func NewSAD(c Config) *SAD {
	c = c.withDefaults()
	d := &SAD{
		cfg:     c,
		retired: make(map[saID]retiredSA),
		ring:    make([]saID, c.MaxRetired),
		openers: make(map[*Opener]struct{}),
	}
	d.sas.Store(&map[saID]*inboundSA{})
	d.keys.Store(&[]*Key{})
	return d
}

// Add registers k, so that packets of its vnet are accepted. A SAD holds
// at most one key per vnet, and a key belongs to at most one SAD.
func (d *SAD) Add(k *Key) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return fmt.Errorf("add key of vnet %s: %w", k.vnet, ErrClosed)
	}
	if k.sad != nil {
		return fmt.Errorf("add key of vnet %s: already registered", k.vnet)
	}
	old := *d.keys.Load()
	for _, o := range old {
		if o.vnet == k.vnet {
			return fmt.Errorf("add key of vnet %s: the vnet already has a key (remove it first)", k.vnet)
		}
	}
	keys := append(append(make([]*Key, 0, len(old)+1), old...), k)
	d.keys.Store(&keys)
	k.sad = d
	return nil
}

// Remove unregisters k and drops the SAs of its vnet, which k.Close zeroes
// later. Packets of the vnet are then rejected with ReasonNoSA.
func (d *SAD) Remove(k *Key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sad != d {
		return
	}
	k.sad = nil

	old := *d.keys.Load()
	keys := make([]*Key, 0, len(old))
	for _, o := range old {
		if o != k {
			keys = append(keys, o)
		}
	}
	d.keys.Store(&keys)

	sas := maps.Clone(*d.sas.Load())
	for id, sa := range sas {
		if sa.vnetKey == k {
			delete(sas, id)
			k.removed = append(k.removed, sa)
		}
	}
	d.sas.Store(&sas)
	for id, r := range d.retired {
		if r.key == k {
			delete(d.retired, id)
		}
	}
	pending := d.pending[:0]
	for _, p := range d.pending {
		if p.sa.vnetKey == k {
			k.removed = append(k.removed, p.sa)
		} else {
			pending = append(pending, p)
		}
	}
	clear(d.pending[len(pending):])
	d.pending = pending
	d.pendingCount.Store(int64(len(pending)))
}

// Len returns the number of inbound SAs in the table.
func (d *SAD) Len() int { return len(*d.sas.Load()) }

// RetiredLen returns the number of retired SAs remembered.
func (d *SAD) RetiredLen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.retired)
}

// lookupRetired returns what is remembered of the retired SA id.
func (d *SAD) lookupRetired(id saID) (retiredSA, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.retired[id]
	return r, ok
}

// insert adds an SA with material m of key k, whose packets up to floor
// count as seen, and returns it. If another goroutine added the same SA
// first, insert returns that one instead. It returns false if k is no
// longer registered. If the table is full, the least recently used SA is
// retired.
func (d *SAD) insert(m *saMaterial, k *Key, floor uint64, now int64) (*inboundSA, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := *d.sas.Load()
	if sa, ok := cur[m.id]; ok {
		return sa, true
	}
	k.mu.Lock()
	registered := k.sad == d
	k.mu.Unlock()
	if !registered {
		return nil, false
	}

	sa := &inboundSA{saMaterial: m, vnetKey: k}
	sa.lastUsed.Store(now)
	if floor > 0 {
		sa.win.resetTo(floor)
		sa.top.Store(floor)
	}
	sas := maps.Clone(cur)
	var old *inboundSA
	if len(sas) >= d.cfg.MaxSAs {
		old = d.retireOldest(sas)
	}
	sas[m.id] = sa
	d.sas.Store(&sas)
	delete(d.retired, m.id)

	if old != nil {
		// The retired SA's keys are no longer needed, but a worker that
		// looked it up in the previous table may still be using them. The
		// epoch is taken after the new table is published, so an Opener
		// that has seen it no longer reaches the SA.
		d.pending = append(d.pending, pendingSA{sa: old, epoch: d.epoch.Add(1)})
		d.pendingCount.Store(int64(len(d.pending)))
	}
	d.reclaim()
	return sa, true
}

// retireOldest removes the least recently used SA from sas, remembers its
// id and highest accepted sequence number, and returns it. The caller
// holds d.mu.
func (d *SAD) retireOldest(sas map[saID]*inboundSA) *inboundSA {
	var oldest *inboundSA
	for _, sa := range sas {
		if oldest == nil || sa.lastUsed.Load() < oldest.lastUsed.Load() {
			oldest = sa
		}
	}
	if oldest == nil {
		return nil
	}
	delete(sas, oldest.id)
	// After retired is set, the SA accepts no more packets, so that top
	// stays the highest number it accepted.
	oldest.mu.Lock()
	oldest.retired = true
	top := oldest.win.top
	oldest.mu.Unlock()

	slot := d.retiredCount % uint64(len(d.ring))
	if d.retiredCount >= uint64(len(d.ring)) {
		// The slot's previous id is forgotten, unless it was retired
		// again since and so has a newer entry.
		prev := d.ring[slot]
		if r, ok := d.retired[prev]; ok && r.pos == d.retiredCount-uint64(len(d.ring)) {
			delete(d.retired, prev)
		}
	}
	d.ring[slot] = oldest.id
	d.retired[oldest.id] = retiredSA{key: oldest.vnetKey, top: top, pos: d.retiredCount}
	d.retiredCount++
	return oldest
}

// reclaim zeroes the pending SAs that no Open can still be using: those
// whose epoch every Opener has seen at a Tick. The caller holds d.mu.
func (d *SAD) reclaim() {
	if len(d.pending) == 0 {
		return
	}
	seen := d.epoch.Load()
	for o := range d.openers {
		seen = min(seen, o.seen.Load())
	}
	n := 0
	for _, p := range d.pending {
		if p.epoch <= seen {
			p.sa.zero()
			continue
		}
		d.pending[n] = p
		n++
	}
	clear(d.pending[n:])
	d.pending = d.pending[:n]
	d.pendingCount.Store(int64(n))
}

// zero zeroes the SA's keys.
func (sa *inboundSA) zero() { sa.saMaterial.zero() }
