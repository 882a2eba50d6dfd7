package overlay

import (
	"encoding/binary"
	"time"

	"github.com/vnet-xdp/vnet/overlay/wire"
	"github.com/vnet-xdp/vnet/pmd"
)

// Reassembly of outer IPv4 fragments. The original sent VUDP with DF
// clear, so a legacy host fragments every full-size frame; AF_XDP does
// not reassemble. Each worker keeps a few reassemblies in UMEM frames,
// bounded in number and time.
const (
	maxReassemblies   = 64
	reassemblyTimeout = int64(2 * time.Second)
	// fragBlocks covers a payload of up to 2048 bytes in 8-byte blocks.
	fragBlocks = 2048 / 8
)

type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

type reassembly struct {
	key   fragKey
	used  bool
	frame pmd.Desc
	// total is the payload length once the last fragment arrived, or -1.
	total    int
	received int
	header   bool
	have     [fragBlocks / 64]uint64
	deadline int64
}

type reassembler struct {
	slots [maxReassemblies]reassembly
}

// add takes the fragment d and returns it to the free stack; when it
// completes a datagram, the datagram goes through fromUnderlay.
func (r *reassembler) add(p *pipeline, w *pmd.Worker, cfg *config, up *underlayPort, d pmd.Desc, ip wire.IPv4) {
	proto := ip.Protocol()
	if proto != wire.ProtoUDP && proto != wire.ProtoEtherIP {
		p.drop(w, d, dropNotVnet)
		return
	}
	key := fragKey{src: ip.Src(), dst: ip.Dst(), id: ip.ID(), proto: proto}
	payload := ip.Payload()
	off := ip.FragmentOffset()
	end := off + len(payload)
	more := ip.MoreFragments()
	const hdrLen = wire.EthHeaderLen + wire.IPv4HeaderLen
	if (more && len(payload)%8 != 0) || len(payload) == 0 {
		p.malformed(w, d, wire.ReasonFragment)
		return
	}

	s := r.find(key)
	if s == nil {
		s = r.alloc(p, w)
		addr, ok := p.umem.Alloc()
		if !ok {
			p.drop(w, d, dropNoMemory)
			return
		}
		*s = reassembly{key: key, used: true, frame: pmd.Desc{Addr: addr}, total: -1, deadline: p.nowNano + reassemblyTimeout}
	}
	if end > int(p.umem.MaxFrameLen(0))-hdrLen || end > fragBlocks*8 || (s.total >= 0 && end > s.total) || (!more && s.received > 0 && r.beyond(s, end)) {
		r.abandon(p, w, s, dropOversize)
		p.drop(w, d, dropOversize)
		return
	}
	first, last := off/8, (end+7)/8
	for b := first; b < last; b++ {
		if s.have[b/64]&(1<<(b%64)) != 0 {
			// Overlapping fragments are discarded with the whole
			// datagram, as RFC 5722 requires for IPv6.
			r.abandon(p, w, s, dropFragment)
			p.malformed(w, d, wire.ReasonFragment)
			return
		}
	}
	for b := first; b < last; b++ {
		s.have[b/64] |= 1 << (b % 64)
	}
	buf := p.umem.Bytes(s.frame.Addr, uint32(hdrLen+end))
	copy(buf[hdrLen+off:], payload)
	s.received += len(payload)
	if off == 0 {
		frame := p.umem.Frame(d)
		copy(buf[:hdrLen], frame[:hdrLen])
		buf[wire.EthHeaderLen] = 0x45 // options are not kept
		s.header = true
	}
	if !more {
		s.total = end
	}
	w.Release(d)
	if !s.header || s.total < 0 || s.received != s.total {
		return
	}

	// Complete: make the header describe the whole datagram.
	ipb := buf[wire.EthHeaderLen:hdrLen]
	binary.BigEndian.PutUint16(ipb[2:], uint16(wire.IPv4HeaderLen+s.total))
	binary.BigEndian.PutUint16(ipb[6:], 0)
	wire.IPv4(ipb).UpdateChecksum()
	whole := pmd.Desc{Addr: s.frame.Addr, Len: uint32(hdrLen + s.total)}
	s.used = false
	p.stats.reassembled.inc()
	p.fromUnderlay(w, cfg, up, whole)
}

// beyond reports whether data already received reaches past end, which
// a last fragment ending at end contradicts.
func (r *reassembler) beyond(s *reassembly, end int) bool {
	for b := (end + 7) / 8; b < fragBlocks; b++ {
		if s.have[b/64]&(1<<(b%64)) != 0 {
			return true
		}
	}
	return false
}

func (r *reassembler) find(k fragKey) *reassembly {
	for i := range r.slots {
		if s := &r.slots[i]; s.used && s.key == k {
			return s
		}
	}
	return nil
}

// alloc returns a free slot, or the oldest one after abandoning it.
func (r *reassembler) alloc(p *pipeline, w *pmd.Worker) *reassembly {
	var oldest *reassembly
	for i := range r.slots {
		s := &r.slots[i]
		if !s.used {
			return s
		}
		if oldest == nil || s.deadline < oldest.deadline {
			oldest = s
		}
	}
	r.abandon(p, w, oldest, dropFragment)
	return oldest
}

func (r *reassembler) abandon(p *pipeline, w *pmd.Worker, s *reassembly, reason dropReason) {
	if !s.used {
		return
	}
	s.used = false
	p.stats.reassemblyFailed.inc()
	p.drop(w, s.frame, reason)
}

// expire abandons reassemblies older than the timeout.
func (r *reassembler) expire(p *pipeline, w *pmd.Worker) {
	for i := range r.slots {
		if s := &r.slots[i]; s.used && p.nowNano > s.deadline {
			r.abandon(p, w, s, dropFragment)
		}
	}
}
