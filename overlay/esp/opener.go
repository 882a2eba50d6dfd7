package esp

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Result is the outcome of Open.
type Result struct {
	// Reason is ReasonNone if the packet was accepted, and why it was
	// rejected otherwise. The other fields are set only on acceptance,
	// except SPI and Seq, which are set once the ESP header was read.
	Reason Reason
	// Vnet is the vnet whose key the SA belongs to. The caller must check
	// that the payload's EtherIP or VARP header names the same vnet.
	Vnet wire.VnetID
	Mode Mode
	// Offset and Length locate the payload, decrypted in place, within
	// the packet given to Open. NextHeader is its IPv4 protocol number.
	Offset, Length int
	NextHeader     uint8
	SPI, Seq       uint32
}

// Opener opens the packets that one goroutine receives. Each worker
// thread has its own, and all Openers of a SAD share its SAs and windows.
type Opener struct {
	sad *SAD
	st  cryptoState
	// scratch holds a copy of a packet while keys are tried on it, since
	// a failed AES-GCM Open zeroes its buffer.
	scratch []byte
	// seen is the SAD epoch at the last Tick. Once it passes an epoch,
	// this Opener no longer uses SAs retired at or before it.
	seen atomic.Uint64
	// now is the time in Unix seconds at the last Tick.
	now int64
	// tokens is the number of key trials left, refilled at TrialRate per
	// second up to TrialBurst.
	tokens   float64
	refilled time.Time
}

// NewOpener returns an Opener of d. The goroutine that uses it must call
// Tick regularly between packets, and Close when it stops, because SAs
// that leave the table are zeroed only after every Opener has ticked. The
// Tick of a pmd worker, every 10 to 100 ms, is enough.
func (d *SAD) NewOpener() *Opener {
	now := time.Now()
	o := &Opener{
		sad:      d,
		st:       newCryptoState(),
		scratch:  make([]byte, 1<<16),
		now:      now.Unix(),
		tokens:   float64(d.cfg.TrialBurst),
		refilled: now,
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	o.seen.Store(d.epoch.Load())
	d.openers[o] = struct{}{}
	return o
}

// Tick reads the time, refills the key trial budget and marks a point at
// which no Open is in progress. Call it between packets, not during Open.
func (o *Opener) Tick(now time.Time) {
	d := o.sad
	o.now = now.Unix()
	if dt := now.Sub(o.refilled); dt > 0 {
		o.tokens = min(float64(d.cfg.TrialBurst), o.tokens+dt.Seconds()*float64(d.cfg.TrialRate))
	}
	o.refilled = now
	o.seen.Store(d.epoch.Load())
	if d.pendingCount.Load() > 0 && d.mu.TryLock() {
		d.reclaim()
		d.mu.Unlock()
	}
}

// Close unregisters the Opener and clears its scratch space.
func (o *Opener) Close() {
	d := o.sad
	d.mu.Lock()
	delete(d.openers, o)
	d.reclaim()
	d.mu.Unlock()
	o.st.reset()
	clear(o.scratch)
}

// Open checks the transport-mode ESP packet in pkt, which starts with its
// IPv4 header and may be followed by link-layer padding. If an SA accepts
// it, Open decrypts the payload in place and returns where it is, and
// leaves the IPv4 header as it was. Otherwise Result.Reason gives the reason
// for the rejection.
//
// The first valid packet of an SA that the SAD does not hold yet is
// checked against every registered vnet key, which costs a key derivation
// per vnet and counts against the Opener's trial budget. Open allocates
// nothing for packets of known SAs.
func (o *Opener) Open(pkt []byte) Result {
	ip, r := parseESP(pkt)
	if r != ReasonNone {
		return Result{Reason: r}
	}
	hl := ip.HeaderLen()
	esp := []byte(ip[hl:])
	res := Result{
		SPI: binary.BigEndian.Uint32(esp[0:4]),
		Seq: binary.BigEndian.Uint32(esp[4:8]),
	}
	if res.SPI < 256 || res.Seq == 0 {
		res.Reason = ReasonMalformed
		return res
	}
	id := saID{spi: res.SPI, src: ip.Src()}
	if sa := (*o.sad.sas.Load())[id]; sa != nil {
		o.openKnown(sa, esp, &res)
	} else {
		o.openNew(id, esp, &res)
	}
	if res.Reason == ReasonNone {
		res.Offset += hl
	}
	return res
}

// parseESP returns pkt cut to its IPv4 total length if it is an
// unfragmented ESP packet long enough for the shortest ESP part.
func parseESP(pkt []byte) (wire.IPv4, Reason) {
	if len(pkt) < wire.IPv4HeaderLen {
		return nil, ReasonTruncated
	}
	ip, ok := wire.ParseIPv4(pkt)
	if !ok {
		hl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if pkt[0]>>4 == 4 && hl >= wire.IPv4HeaderLen && total >= hl {
			return nil, ReasonTruncated
		}
		return nil, ReasonMalformed
	}
	if ip.Protocol() != ProtoESP || ip.IsFragment() {
		return nil, ReasonMalformed
	}
	n := len(ip) - ip.HeaderLen()
	if n < min(ModeAuth.HeaderLen(), ModeConf.HeaderLen())+4+ICVLen {
		return nil, ReasonTruncated
	}
	if n%4 != 0 {
		// Header, body and ICV are all multiples of 4 bytes in both modes.
		return nil, ReasonMalformed
	}
	return ip, ReasonNone
}

// openKnown opens a packet of the SA sa.
func (o *Opener) openKnown(sa *inboundSA, esp []byte, res *Result) {
	// A packet older than the window costs no cryptography (RFC 4303
	// section 3.4.3). Duplicates inside the window are found after the
	// ICV check, under the SA's lock: a sender of forged packets can make
	// the receiver check ICVs anyway, so checking the bitmap twice would
	// only add a lock per packet.
	seq, top := uint64(res.Seq), sa.top.Load()
	if seq <= top && top-seq >= WindowSize {
		res.Reason = ReasonReplay
		return
	}
	n, next, r := sa.open(esp, &o.st)
	if r != ReasonNone {
		res.Reason = r
		return
	}
	o.accept(sa, n, next, res)
}

// accept records an authenticated packet in sa's window and fills res.
func (o *Opener) accept(sa *inboundSA, n int, next uint8, res *Result) {
	sa.mu.Lock()
	ok := !sa.retired && sa.win.accept(uint64(res.Seq))
	sa.top.Store(sa.win.top)
	sa.mu.Unlock()
	if !ok {
		// Another worker accepted the same packet in the meantime, or the
		// SA was retired, in which case this packet is lost.
		res.Reason = ReasonReplay
		return
	}
	if sa.lastUsed.Load() != o.now {
		sa.lastUsed.Store(o.now)
	}
	res.Vnet = sa.vnetKey.vnet
	res.Mode = sa.mode
	res.Offset = sa.mode.HeaderLen()
	res.Length = n
	res.NextHeader = next
}

// openNew opens the first packet seen of SA id, trying the key of the
// retired SA of that id, or else every registered key. A key that
// authenticates the packet creates the SA. Each packet costs at least one
// token of the trial budget, and one per key tried beyond the first, so
// that a flood of packets with unknown SPIs costs a bounded amount of
// work and locking.
func (o *Opener) openNew(id saID, esp []byte, res *Result) {
	d := o.sad
	if o.tokens < 1 {
		res.Reason = ReasonRateLimited
		return
	}
	o.tokens--
	free := true

	var floor uint64
	keys := *d.keys.Load()
	if r, ok := d.lookupRetired(id); ok {
		if uint64(res.Seq) <= r.top {
			res.Reason = ReasonReplay
			return
		}
		floor = r.top
		keys = []*Key{r.key}
	}

	res.Reason = ReasonNoSA
	for _, k := range keys {
		if k.mode.checkLen(len(esp)) != ReasonNone {
			continue
		}
		if !free {
			if o.tokens < 1 {
				res.Reason = ReasonRateLimited
				return
			}
			o.tokens--
		}
		free = false
		m, err := k.derive(id.src, id.spi)
		if err != nil {
			continue
		}
		n, next, r := o.try(m, esp)
		if r == ReasonAuth {
			m.zero()
			continue
		}
		if r != ReasonNone {
			// The key authenticated the packet, but its trailer is wrong.
			m.zero()
			res.Reason = r
			return
		}
		sa, ok := d.insert(m, k, floor, o.now)
		if !ok {
			m.zero()
			continue
		}
		if sa.saMaterial != m {
			// Another worker created the SA first, so its window counts.
			m.zero()
		}
		res.Reason = ReasonNone
		o.accept(sa, n, next, res)
		return
	}
}

// try checks esp with the material m. esp is changed only if m
// authenticates it, and then for ModeConf holds the decrypted body.
func (o *Opener) try(m *saMaterial, esp []byte) (int, uint8, Reason) {
	if m.mode == ModeAuth {
		return m.open(esp, &o.st)
	}
	buf := o.scratch[:len(esp)]
	copy(buf, esp)
	n, next, r := m.open(buf, &o.st)
	if r == ReasonAuth {
		return 0, 0, r
	}
	h, end := m.mode.HeaderLen(), len(esp)-ICVLen
	copy(esp[h:end], buf[h:end])
	return n, next, r
}
