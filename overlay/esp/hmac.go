package esp

import (
	"crypto/sha256"
	"encoding"
	"hash"
)

// HMAC-SHA-256 (RFC 2104, RFC 4231) is built here on crypto/sha256 instead
// of taken from crypto/hmac for two reasons. The keyed inner and outer
// states live in this package's memory, so Close can zero them, whereas
// crypto/hmac keeps its copies out of reach. And the states are computed
// once per key and restored per packet, so a packet costs no compression of
// the padded key.

// hmacKey is the read-only part of an HMAC-SHA-256 key: the SHA-256 states
// after absorbing the key XOR ipad and the key XOR opad, in the marshalled
// form of crypto/sha256. Any number of goroutines may use one hmacKey,
// each with its own hmacState.
type hmacKey struct {
	inner, outer []byte
}

// newHMACKey precomputes the keyed states for key, which must be at most
// one SHA-256 block (64 bytes) long.
func newHMACKey(key []byte) *hmacKey {
	if len(key) > sha256.BlockSize {
		panic("esp: HMAC key longer than a SHA-256 block")
	}
	var pad [sha256.BlockSize]byte
	k := &hmacKey{}
	for i, fill := range [2]byte{0x36, 0x5c} {
		for j := range pad {
			pad[j] = fill
		}
		for j, c := range key {
			pad[j] ^= c
		}
		h := sha256.New()
		h.Write(pad[:])
		state, err := h.(encoding.BinaryAppender).AppendBinary(nil)
		if err != nil {
			panic("esp: marshal SHA-256 state: " + err.Error())
		}
		h.Reset()
		if i == 0 {
			k.inner = state
		} else {
			k.outer = state
		}
	}
	clear(pad[:])
	return k
}

// zero overwrites the keyed states.
func (k *hmacKey) zero() {
	clear(k.inner)
	clear(k.outer)
}

// hmacState is the scratch space of one goroutine that computes HMACs.
type hmacState struct {
	inner, outer     hash.Hash
	innerUn, outerUn encoding.BinaryUnmarshaler
	// sum holds the inner digest in its first half and the outer digest
	// in its second. It is a field so that passing it through the
	// hash.Hash interface allocates nothing.
	sum [2 * sha256.Size]byte
}

func newHMACState() *hmacState {
	s := &hmacState{inner: sha256.New(), outer: sha256.New()}
	s.innerUn = s.inner.(encoding.BinaryUnmarshaler)
	s.outerUn = s.outer.(encoding.BinaryUnmarshaler)
	return s
}

// sum256 returns HMAC-SHA-256 of data under k. The result aliases s and
// is valid until the next call.
func (s *hmacState) sum256(k *hmacKey, data []byte) []byte {
	// UnmarshalBinary fails only on a wrong magic number or length, and
	// these states come from AppendBinary of the same package.
	_ = s.innerUn.UnmarshalBinary(k.inner)
	s.inner.Write(data)
	innerSum := s.inner.Sum(s.sum[:0])
	_ = s.outerUn.UnmarshalBinary(k.outer)
	s.outer.Write(innerSum)
	return s.outer.Sum(s.sum[sha256.Size:sha256.Size])
}

// reset drops the keyed state that the last sum256 left in s.
func (s *hmacState) reset() {
	s.inner.Reset()
	s.outer.Reset()
	clear(s.sum[:])
}
