package esp

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// PSK lengths in bytes: a pre-shared key is an AES-128 or AES-256 key's
// worth of secret.
const (
	PSKLen128 = 16
	PSKLen256 = 32
)

// hkdfSalt is the HKDF-Extract salt (RFC 5869 section 3.1). A fixed label
// keeps these keys apart from any other use of the same PSK.
const hkdfSalt = "vnet-xdp esp v1"

// saInfoLabel starts the HKDF-Expand info of every SA key.
const saInfoLabel = "vnet-xdp esp sa"

// hmacKeyLen is the HMAC-SHA-256 key length, the hash output length that
// RFC 4868 section 2.1.1 requires.
const hmacKeyLen = sha256.Size

// saltLen is the salt of AES-GCM in ESP, the first 4 bytes of the nonce,
// taken from the keying material after the AES key (RFC 4106 section 8.1).
const saltLen = 4

// Errors of key handling and Seal. They are fixed values, so that Seal
// allocates nothing when it fails.
var (
	ErrInvalidKey    = errors.New("invalid pre-shared key")
	ErrClosed        = errors.New("esp key closed")
	ErrInvalidPacket = errors.New("invalid IPv4 packet")
	ErrShortBuffer   = errors.New("buffer too short for the ESP header and trailer")
	ErrTooLong       = errors.New("ESP packet longer than the IPv4 maximum of 65535 bytes")
)

// ParsePSK decodes a pre-shared key given as 32 or 64 hexadecimal digits.
// The error never contains the key.
func ParsePSK(s string) ([]byte, error) {
	if len(s) != 2*PSKLen128 && len(s) != 2*PSKLen256 {
		return nil, fmt.Errorf("parse key: %w: %d hex digits (use 32 or 64 hex digits, 16 or 32 bytes)", ErrInvalidKey, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w: not hexadecimal (use only 0-9 and a-f)", ErrInvalidKey)
	}
	return b, nil
}

// Key is the keying material of one secure vnet on this host: the
// HKDF pseudorandom key of its PSK, from which the keys of every SA of
// the vnet are derived. It also tracks the Senders made from it and the
// inbound SAs handed back by a SAD, so that Close zeroes all of them.
type Key struct {
	vnet   wire.VnetID
	mode   Mode
	aesLen int

	mu     sync.Mutex
	prk    []byte
	closed bool
	// senders are the live Senders made by NewSender.
	senders map[*Sender]struct{}
	// usedSPIs are the outbound SPIs that this Key has given to each
	// source address since it was made, so that no SPI is used twice in
	// one run of the daemon.
	usedSPIs map[saID]struct{}
	// sad is the SAD the key is registered with, if any.
	sad *SAD
	// removed are inbound SAs that the SAD dropped and that wait for Close
	// to zero them.
	removed []*inboundSA
}

// NewKey makes the Key of vnet for mode from a pre-shared key of 16 or 32
// bytes. A 16-byte PSK selects AES-128-GCM for ModeConf, a 32-byte one
// AES-256-GCM. NewKey keeps no copy of psk, so the caller may zero it.
func NewKey(vnet wire.VnetID, mode Mode, psk []byte) (*Key, error) {
	if !mode.valid() {
		return nil, fmt.Errorf("create key for vnet %s: invalid mode %d (use ModeAuth or ModeConf)", vnet, uint8(mode))
	}
	if len(psk) != PSKLen128 && len(psk) != PSKLen256 {
		return nil, fmt.Errorf("create key for vnet %s: %w: %d bytes (use 16 or 32 bytes)", vnet, ErrInvalidKey, len(psk))
	}
	prk, err := hkdf.Extract(sha256.New, psk, []byte(hkdfSalt))
	if err != nil {
		return nil, fmt.Errorf("create key for vnet %s: %w", vnet, err)
	}
	return &Key{
		vnet:     vnet,
		mode:     mode,
		aesLen:   len(psk),
		prk:      prk,
		senders:  make(map[*Sender]struct{}),
		usedSPIs: make(map[saID]struct{}),
	}, nil
}

// Vnet returns the vnet the key belongs to.
func (k *Key) Vnet() wire.VnetID { return k.vnet }

// Mode returns the key's protection.
func (k *Key) Mode() Mode { return k.mode }

// Close zeroes the key and the keys of every SA derived from it: the
// current SAs of its Senders and the inbound SAs that a SAD removed. It
// first removes the key from its SAD, if it is still registered.
//
// No goroutine may be inside Seal on one of the key's Senders, or inside
// Open on a packet of the key's vnet, while Close runs. So remove the key
// from the SAD first, then wait until every worker has finished the batch
// in hand, then call Close.
//
// NOTE: The AES key schedules and GHASH tables inside the standard
// library's AES-GCM cannot be reached from here. Close drops them, and
// they stay in memory until the garbage collector reuses it.
func (k *Key) Close() {
	k.mu.Lock()
	sad := k.sad
	k.mu.Unlock()
	if sad != nil {
		sad.Remove(k)
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.closed = true
	for s := range k.senders {
		s.zero()
	}
	clear(k.senders)
	for _, sa := range k.removed {
		sa.zero()
	}
	k.removed = nil
	clear(k.prk)
}

// derive computes the material of the SA that src sends with spi. Every
// input that selects the SA is in the HKDF info, so that keys differ per
// mode, vnet, sender address and SPI. A packet of one vnet therefore does
// not authenticate under another vnet's SA.
func (k *Key) derive(src [4]byte, spi uint32) (*saMaterial, error) {
	n := hmacKeyLen
	if k.mode == ModeConf {
		n = k.aesLen + saltLen
	}
	info := make([]byte, 0, len(saInfoLabel)+1+1+len(wire.VnetID{})+4+4)
	info = append(info, saInfoLabel...)
	info = append(info, 0, byte(k.mode))
	info = append(info, k.vnet[:]...)
	info = append(info, src[:]...)
	info = binary.BigEndian.AppendUint32(info, spi)

	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil, ErrClosed
	}
	okm, err := hkdf.Expand(sha256.New, k.prk, string(info), n)
	k.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("derive SA key for vnet %s: %w", k.vnet, err)
	}
	return newSAMaterial(k.mode, spi, src, okm)
}

// newOutboundSPI returns a random SPI that k has not given to src before.
// SPIs 0 to 255 are reserved (RFC 4303 section 2.1).
func (k *Key) newOutboundSPI(src [4]byte) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return 0, ErrClosed
	}
	for {
		spi := randomUint32()
		id := saID{spi: spi, src: src}
		if _, used := k.usedSPIs[id]; spi < 256 || used {
			continue
		}
		k.usedSPIs[id] = struct{}{}
		return spi, nil
	}
}

// randomUint32 returns 32 bits from crypto/rand, which does not fail
// (it crashes the program instead, as of Go 1.24).
func randomUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
