package esp

import (
	"encoding/binary"
	"math"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// Sender seals the packets that one goroutine sends for one vnet from one
// underlay address. Each worker thread has its own Sender, and so its own
// SA with its own SPI, key and sequence counter: no counter is shared
// between threads, and receivers keep a replay window per SA.
//
// The SA carries 32-bit sequence numbers without ESN. Before the counter
// would pass 2^32-1, Seal moves to a new SA with a fresh random SPI and
// key (RFC 4303 section 2.2 requires a new SA there), so a receiver
// never has to infer high-order sequence bits.
type Sender struct {
	key *Key
	src [4]byte
	// sa is the current SA. Only the goroutine that calls Seal replaces
	// it, and it holds key.mu to do so, so that AppendESPSA can read sa
	// under key.mu from another goroutine.
	sa *outboundSA
	// seq is the sequence number of the last packet sealed with sa.
	seq    uint32
	closed bool
	st     cryptoState
}

// outboundSA is an SA this host sends with.
type outboundSA struct {
	*saMaterial
	// ivPrefix is a random number drawn with the SA that forms the upper
	// half of every AES-GCM IV, the sequence number being the lower half.
	// It keeps nonces apart even if two runs of the daemon drew the same
	// SPI, and therefore the same key.
	ivPrefix uint32
}

// NewSender returns a Sender for packets with the outer source address
// src, with a new SA.
func (k *Key) NewSender(src [4]byte) (*Sender, error) {
	s := &Sender{key: k, src: src, st: newCryptoState()}
	if err := s.rollover(); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		s.zero()
		return nil, ErrClosed
	}
	k.senders[s] = struct{}{}
	return s, nil
}

// rollover replaces the current SA with a new one with a random SPI and
// IV prefix, and restarts the sequence counter.
func (s *Sender) rollover() error {
	spi, err := s.key.newOutboundSPI(s.src)
	if err != nil {
		return err
	}
	m, err := s.key.derive(s.src, spi)
	if err != nil {
		return err
	}
	sa := &outboundSA{saMaterial: m, ivPrefix: randomUint32()}

	k := s.key
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		sa.zero()
		return ErrClosed
	}
	if s.sa != nil {
		s.sa.zero()
	}
	s.sa, s.seq = sa, 0
	return nil
}

// SPI returns the SPI of the current SA.
func (s *Sender) SPI() uint32 { return s.sa.id.spi }

// Seal turns the IPv4 packet in pkt into a transport-mode ESP packet in
// place (RFC 4303 section 3.1.1) and returns its new total length.
//
// pkt starts with an IPv4 header whose total length counts the header and
// the payload only. The header is followed by Mode.HeaderLen() bytes that
// Seal fills with the ESP header, then by the payload, then by room for
// the trailer: len(pkt) must be at least the header length plus
// Mode.SealedLen(payload length). Seal moves the protocol field into the
// ESP next header, sets the protocol to 50 and the total length, and
// recomputes the header checksum.
//
// Seal allocates nothing, except once every 2^32 packets, when it moves to
// a new SA. It must not be called concurrently on one Sender.
func (s *Sender) Seal(pkt []byte) (int, error) {
	if s.closed {
		return 0, ErrClosed
	}
	if len(pkt) < wire.IPv4HeaderLen || pkt[0]>>4 != 4 {
		return 0, ErrInvalidPacket
	}
	hl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if hl < wire.IPv4HeaderLen || total < hl || len(pkt) < hl {
		return 0, ErrInvalidPacket
	}
	n := total - hl
	espLen := s.key.mode.SealedLen(n)
	if hl+espLen > math.MaxUint16 {
		return 0, ErrTooLong
	}
	if len(pkt) < hl+espLen {
		return 0, ErrShortBuffer
	}
	if s.seq == math.MaxUint32 {
		if err := s.rollover(); err != nil {
			return 0, err
		}
	}
	s.seq++
	iv := uint64(s.sa.ivPrefix)<<32 | uint64(s.seq)
	s.sa.seal(pkt[hl:hl+espLen], n, s.seq, iv, pkt[9], &s.st)

	ip := wire.IPv4(pkt[:hl])
	ip[9] = ProtoESP
	binary.BigEndian.PutUint16(ip[2:4], uint16(hl+espLen))
	ip.UpdateChecksum()
	return hl + espLen, nil
}

// Close zeroes the Sender's SA. Seal then fails with ErrClosed. It must
// not run while Seal does.
func (s *Sender) Close() {
	k := s.key
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.senders, s)
	s.zero()
}

// zero zeroes the SA and the scratch space. The caller holds key.mu.
func (s *Sender) zero() {
	s.closed = true
	if s.sa != nil {
		s.sa.zero()
	}
	s.st.reset()
}
