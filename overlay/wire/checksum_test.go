package wire

import (
	"math/rand/v2"
	"testing"
)

// referenceSum is the plain RFC 1071 sum over 16-bit words, folded to 16 bits.
func referenceSum(b []byte, initial uint32) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Checksum(b, 0)); got != 0xddf2 {
		t.Errorf("Fold(Checksum(%x, 0)) = %#04x, want 0xddf2", b, got)
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		for _, initial := range []uint32{0, 1, 0xffff, 0x1fffe, 0xffffffff, rng.Uint32()} {
			want := referenceSum(b, initial)
			if got := Fold(Checksum(b, initial)); got != want {
				t.Errorf("Fold(Checksum(%d random bytes, %#x)) = %#04x, want %#04x", n, initial, got, want)
			}
		}
	}
}

func TestChecksumAllOnes(t *testing.T) {
	// All-ones words make the 64-bit accumulator carry on every add.
	for _, n := range []int{8, 32, 64, 1500, 65536} {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0xff
		}
		if got := Fold(Checksum(b, 0xffffffff)); got != 0xffff {
			t.Errorf("Fold(Checksum(%d bytes of ff, 0xffffffff)) = %#04x, want 0xffff", n, got)
		}
	}
}

func TestChecksumSplit(t *testing.T) {
	b := []byte("a buffer of forty-one bytes, summed twice")
	whole := Fold(Checksum(b, 0))
	for cut := 0; cut <= len(b); cut += 2 {
		if got := Fold(Checksum(b[cut:], Checksum(b[:cut], 0))); got != whole {
			t.Errorf("sum split at %d = %#04x, want %#04x", cut, got, whole)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0, 0},
		{0xffff, 0xffff},
		{0x10000, 1},
		{0x2ddf0, 0xddf2},
		{0xffffffff, 0xffff},
		{0xfffeffff, 0xfffe},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%#x) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

func TestIPv4HeaderChecksum(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   uint16
	}{
		// Outer header of capture frame 5, checksum b064.
		{"capture frame 5", "4500 005c 230e 4000 0111 b064 c6120001 e00a0001", 0xb064},
		// The checksum field is ignored, so a wrong one gives the same result.
		{"field ignored", "4500 005c 230e 4000 0111 0000 c6120001 e00a0001", 0xb064},
		// A 24-byte header with a 4-byte option (router alert).
		{"with options", "4600 0020 0000 4000 0102 0000 c6120001 e0000016 94040000", 0x3eae},
	}
	for _, tt := range tests {
		h := mustHex(tt.header)
		if got := IPv4HeaderChecksum(h); got != tt.want {
			t.Errorf("%s: IPv4HeaderChecksum(%x) = %#04x, want %#04x", tt.name, h, got, tt.want)
		}
	}
}

func TestIPv4HeaderChecksumShort(t *testing.T) {
	// Shorter than the checksum field: no panic, sum over what is there.
	for n := 0; n < 12; n++ {
		_ = IPv4HeaderChecksum(make([]byte, n))
	}
}
