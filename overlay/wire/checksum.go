package wire

import (
	"encoding/binary"
	"math/bits"
)

// Checksum adds the bytes of b, as big-endian 16-bit words, to the
// one's-complement partial sum initial (RFC 1071). It returns the new
// partial sum, neither folded to 16 bits nor complemented. An odd final
// byte counts as the high byte of a word whose low byte is zero. A sum over
// several slices is therefore only correct when every slice but the last
// has an even length.
//
// The sum runs over 64-bit words with end-around carry. Since 2^16 is 1
// modulo 0xffff, that is the same one's-complement sum as over 16-bit words.
func Checksum(b []byte, initial uint32) uint32 {
	sum := uint64(initial)
	var carry uint64

	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:16]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:24]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[0:8]), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b[0:4])), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, carry = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b[0:2])), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		sum, carry = bits.Add64(sum, uint64(b[0])<<8, carry)
	}

	// This cannot overflow: a carry out of an add that leaves sum all ones
	// needs both addends all ones and a carry in, which is the same state
	// one step earlier, and the first add starts without a carry.
	sum += carry

	// Fold 64 bits to 32, with end-around carry.
	folded, carry32 := bits.Add32(uint32(sum), uint32(sum>>32), 0)
	return folded + carry32
}

// Fold folds the carries of a partial sum into 16 bits. The caller
// complements the result to get a checksum field. Fold returns 0 only for a
// sum of 0.
func Fold(sum uint32) uint16 {
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	return uint16(sum)
}

// IPv4HeaderChecksum returns the checksum field value for the IPv4 header h,
// computed over all of h with the checksum field at bytes 10 and 11 treated
// as zero. Pass exactly the header (IPv4.HeaderLen bytes).
func IPv4HeaderChecksum(h []byte) uint16 {
	if len(h) < 12 {
		return ^Fold(Checksum(h, 0))
	}
	sum := Checksum(h[:10], 0)
	sum = Checksum(h[12:], sum)
	return ^Fold(sum)
}

// pseudoHeaderSumIPv4 returns the partial sum of the IPv4 pseudo-header
// (RFC 768, RFC 9293): source, destination, protocol and L4 length.
func pseudoHeaderSumIPv4(src, dst []byte, proto uint8, length int) uint32 {
	sum := Checksum(src, 0)
	sum = Checksum(dst, sum)
	sum = addWord(sum, uint32(proto))
	return addWord(sum, uint32(length))
}

// pseudoHeaderSumIPv6 returns the partial sum of the IPv6 pseudo-header
// (RFC 8200 section 8.1): source, destination, 32-bit upper-layer length
// and next header.
func pseudoHeaderSumIPv6(src, dst []byte, proto uint8, length int) uint32 {
	sum := Checksum(src, 0)
	sum = Checksum(dst, sum)
	sum = addWord(sum, uint32(proto))
	sum = addWord(sum, uint32(length)>>16)
	return addWord(sum, uint32(length)&0xffff)
}

// addWord adds w to a partial sum with end-around carry.
func addWord(sum, w uint32) uint32 {
	sum, carry := bits.Add32(sum, w, 0)
	return sum + carry
}
