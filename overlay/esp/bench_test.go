package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// benchSizes are payload sizes in bytes: what ESP protects, from the UDP
// header to the end of the inner frame. 64 is a small control message,
// 1500 a full-size frame.
var benchSizes = []int{64, 512, 1500}

// vnetOverhead is the part of the payload before the inner frame: UDP
// header, message header and EtherIP header.
const vnetOverhead = wire.UDPHeaderLen + wire.MsgHeaderLen + wire.EtherIPHeaderLen

func BenchmarkSeal(b *testing.B) {
	for _, mode := range modes {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", mode, size), func(b *testing.B) {
				s := newTestSender(b, newTestKey(b, vnetA, mode, psk1), host1)
				buf := vudpFrame(mode, host1, host2, vnetA, innerFrame(size-vnetOverhead, 0))
				ip := buf[wire.EthHeaderLen:]
				var header [wire.IPv4HeaderLen]byte
				copy(header[:], ip)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					// Seal rewrote the IPv4 header. The payload may stay
					// encrypted, as its content does not change the cost.
					copy(ip, header[:])
					if _, err := s.Seal(ip); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, mode := range modes {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", mode, size), func(b *testing.B) {
				s := newTestSender(b, newTestKey(b, vnetA, mode, psk1), host1)
				d, o := newTestSAD(b, Config{}, newTestKey(b, vnetA, mode, psk1))
				// The first packet creates the SA, outside the measurement.
				if res := open(o, sealed(b, s, size-vnetOverhead, 0)); res.Reason != ReasonNone {
					b.Fatalf("Open = %v", res.Reason)
				}
				const batch = 1024
				frames := make([][]byte, batch)
				for i := range frames {
					frames[i] = sealed(b, s, size-vnetOverhead, byte(i))
				}
				var sa *inboundSA
				for _, v := range *d.sas.Load() {
					sa = v
				}
				work := make([]byte, len(frames[0]))
				b.SetBytes(int64(size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i == batch {
						// Let the same packets through again.
						sa.mu.Lock()
						sa.win = window{}
						sa.mu.Unlock()
						i = 0
					}
					// Open decrypts in place, so each iteration opens a
					// fresh copy of a sealed packet.
					copy(work, frames[i])
					if res := o.Open(work[wire.EthHeaderLen:]); res.Reason != ReasonNone {
						b.Fatalf("Open(packet %d) = %v", i, res.Reason)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkAESGCM is Go's AES-128-GCM on the same payload sizes, with the
// 8-byte AAD of ESP: the cost of the cipher alone, for comparison with
// Seal and Open in conf mode.
func BenchmarkAESGCM(b *testing.B) {
	block, err := aes.NewCipher(psk1)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	aad := make([]byte, 8)
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("seal/%d", size), func(b *testing.B) {
			buf := make([]byte, size+ICVLen)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				aead.Seal(buf[:0], nonce, buf[:size], aad)
			}
		})
		b.Run(fmt.Sprintf("open/%d", size), func(b *testing.B) {
			ct := aead.Seal(nil, nonce, make([]byte, size), aad)
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := aead.Open(pt[:0], nonce, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthICV compares the two integrity algorithms considered for
// auth mode, on the bytes the ICV covers: AES-GMAC (RFC 4543, AES-GCM with
// everything as AAD) and HMAC-SHA-256-128 (RFC 4868) as this package
// computes it.
func BenchmarkAuthICV(b *testing.B) {
	block, err := aes.NewCipher(psk1)
	if err != nil {
		b.Fatal(err)
	}
	gmac, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, gmac.NonceSize())
	mac := newHMACKey(psk3)
	st := newHMACState()
	for _, size := range benchSizes {
		data := make([]byte, SPILen+SeqLen+size+4)
		icv := make([]byte, 0, ICVLen)
		b.Run(fmt.Sprintf("gmac/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				icv = gmac.Seal(icv[:0], nonce, nil, data)
			}
		})
		b.Run(fmt.Sprintf("hmac-sha256-128/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				icv = append(icv[:0], st.sum256(mac, data)[:ICVLen]...)
			}
		})
	}
}

// BenchmarkCopy is the copy of a packet that BenchmarkOpen makes before
// each Open, to subtract from its times.
func BenchmarkCopy(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src := make([]byte, wire.EthHeaderLen+wire.IPv4HeaderLen+ModeConf.SealedLen(size))
			dst := make([]byte, len(src))
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}
