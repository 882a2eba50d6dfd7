package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

func TestSealOpenRoundTrip(t *testing.T) {
	for _, mode := range modes {
		for _, psk := range [][]byte{psk1, psk3} {
			for _, n := range []int{14, 15, 16, 17, 60, 64, 512, 1500, 1514} {
				name := fmt.Sprintf("%s/psk%d/%d", mode, len(psk), n)
				t.Run(name, func(t *testing.T) {
					k := newTestKey(t, vnetA, mode, psk)
					s := newTestSender(t, k, host1)
					_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk))

					inner := innerFrame(n, byte(n))
					frame := sealFrame(t, s, vudpFrame(mode, host1, host2, vnetA, inner))
					ip, ok := wire.ParseIPv4(frame[wire.EthHeaderLen:])
					if !ok {
						t.Fatalf("sealed packet is not IPv4: % x", frame[:40])
					}
					if ip.Protocol() != ProtoESP {
						t.Errorf("sealed protocol = %d, want %d", ip.Protocol(), ProtoESP)
					}
					if !ip.ChecksumValid() {
						t.Errorf("sealed IPv4 header checksum %#04x does not verify", ip.Checksum())
					}
					payloadLen := wire.UDPHeaderLen + wire.MsgHeaderLen + wire.EtherIPHeaderLen + n
					if got, want := len(ip), wire.IPv4HeaderLen+mode.SealedLen(payloadLen); got != want {
						t.Errorf("sealed length = %d, want %d", got, want)
					}
					if got := (len(ip) - wire.IPv4HeaderLen - mode.HeaderLen() - ICVLen) % 4; got != 0 {
						t.Errorf("protected body ends %d bytes past a 4-byte boundary", got)
					}
					if mode == ModeConf && n >= 30 && bytes.Contains(frame, inner[14:]) {
						t.Errorf("conf packet contains the inner payload in clear text")
					}

					res := open(o, frame)
					if res.Reason != ReasonNone {
						t.Fatalf("Open = %v, want accepted", res.Reason)
					}
					if res.Vnet != vnetA || res.Mode != mode || res.NextHeader != wire.ProtoUDP || res.SPI != s.SPI() || res.Seq != 1 {
						t.Errorf("Open = %+v, want vnet %s, mode %s, next header 17, SPI %#x, seq 1", res, vnetA, mode, s.SPI())
					}
					if got, want := payloadOf(frame, res), plainPayload(vnetA, inner); !bytes.Equal(got, want) {
						t.Errorf("Open payload = % x, want % x", got, want)
					}
				})
			}
		}
	}
}

func TestSealRejectsBadBuffers(t *testing.T) {
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		good := vudpFrame(mode, host1, host2, vnetA, innerFrame(100, 0))[wire.EthHeaderLen:]
		payloadLen := int(binary.BigEndian.Uint16(good[2:4])) - wire.IPv4HeaderLen
		good = good[:wire.IPv4HeaderLen+mode.SealedLen(payloadLen)]

		notIPv4 := clone(good)
		notIPv4[0] = 0x65
		badIHL := clone(good)
		badIHL[0] = 0x44
		badTotal := clone(good)
		binary.BigEndian.PutUint16(badTotal[2:4], 10)
		huge := make([]byte, 0xffff+MaxOverhead)
		copy(huge, good[:wire.IPv4HeaderLen])
		binary.BigEndian.PutUint16(huge[2:4], 0xffff-10)

		tests := []struct {
			name string
			pkt  []byte
			want error
		}{
			{"short header", good[:10], ErrInvalidPacket},
			{"version 6", notIPv4, ErrInvalidPacket},
			{"IHL 4", badIHL, ErrInvalidPacket},
			{"total length below header", badTotal, ErrInvalidPacket},
			{"no room for trailer", good[:len(good)-1], ErrShortBuffer},
			{"longer than 65535", huge, ErrTooLong},
		}
		for _, tt := range tests {
			if _, err := s.Seal(tt.pkt); !errors.Is(err, tt.want) {
				t.Errorf("%s: Seal(%s) = %v, want %v", mode, tt.name, err, tt.want)
			}
		}
	}
}

func TestSealedLenAndOverhead(t *testing.T) {
	tests := []struct {
		mode    Mode
		payload int
		want    int
	}{
		{ModeConf, 0, 16 + 0 + 2 + 2 + 16},
		{ModeConf, 1, 16 + 1 + 1 + 2 + 16},
		{ModeConf, 2, 16 + 2 + 0 + 2 + 16},
		{ModeConf, 3, 16 + 3 + 3 + 2 + 16},
		{ModeAuth, 0, 8 + 0 + 2 + 2 + 16},
		{ModeAuth, 44, 8 + 44 + 2 + 2 + 16},
		{ModeAuth, 45, 8 + 45 + 1 + 2 + 16},
	}
	for _, tt := range tests {
		if got := tt.mode.SealedLen(tt.payload); got != tt.want {
			t.Errorf("%s.SealedLen(%d) = %d, want %d", tt.mode, tt.payload, got, tt.want)
		}
		if got := tt.mode.SealedLen(tt.payload) - tt.payload; got > tt.mode.Overhead() {
			t.Errorf("%s: overhead %d for payload %d exceeds Overhead() = %d", tt.mode, got, tt.payload, tt.mode.Overhead())
		}
	}
	if ModeConf.Overhead() != MaxOverhead || ModeConf.HeaderLen() != MaxHeaderLen || ModeAuth.HeaderLen() != 8 {
		t.Errorf("Overhead/HeaderLen = %d/%d and %d, want %d/%d and 8",
			ModeConf.Overhead(), ModeConf.HeaderLen(), ModeAuth.HeaderLen(), MaxOverhead, MaxHeaderLen)
	}
}

func TestMaxPayloadFits(t *testing.T) {
	for _, mode := range modes {
		if p := mode.MaxPayload(mode.SealedLen(0) - 1); p >= 0 {
			t.Errorf("%s.MaxPayload(%d) = %d, want negative", mode, mode.SealedLen(0)-1, p)
		}
		for n := mode.SealedLen(0); n < 1600; n++ {
			p := mode.MaxPayload(n)
			if p < 0 {
				t.Errorf("%s.MaxPayload(%d) = %d, want a payload", mode, n, p)
				continue
			}
			if got := mode.SealedLen(p); got > n {
				t.Errorf("%s.MaxPayload(%d) = %d, which seals to %d bytes", mode, n, p, got)
			}
			if got := mode.SealedLen(p + 1); got <= n {
				t.Errorf("%s.MaxPayload(%d) = %d, but %d bytes also fit (%d)", mode, n, p, p+1, got)
			}
			if p < n-mode.Overhead() {
				t.Errorf("%s.MaxPayload(%d) = %d, below the Overhead bound %d", mode, n, p, n-mode.Overhead())
			}
		}
	}
	// A 1500-byte underlay: 1480 bytes after the outer IPv4 header, of
	// which 44 precede the inner frame's payload (UDP, message header,
	// EtherIP, inner Ethernet header).
	for _, tt := range []struct {
		mode Mode
		mtu  int
	}{{ModeConf, 1402}, {ModeAuth, 1410}} {
		if got := tt.mode.MaxPayload(1480) - 44; got != tt.mtu {
			t.Errorf("%s vnet MTU on a 1500-byte underlay = %d, want %d", tt.mode, got, tt.mtu)
		}
	}
}

func TestSequenceNumbersCount(t *testing.T) {
	for _, mode := range modes {
		s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		for want := uint32(1); want <= 5; want++ {
			frame := sealed(t, s, 60, 0)
			if got := binary.BigEndian.Uint32(frame[wire.EthHeaderLen+wire.IPv4HeaderLen+4:]); got != want {
				t.Errorf("%s: packet %d has sequence number %d", mode, want, got)
			}
		}
	}
}

func TestConfIVIsPrefixAndSequence(t *testing.T) {
	s := newTestSender(t, newTestKey(t, vnetA, ModeConf, psk1), host1)
	espOff := wire.EthHeaderLen + wire.IPv4HeaderLen
	for i := 1; i <= 3; i++ {
		frame := sealed(t, s, 60, 0)
		iv := binary.BigEndian.Uint64(frame[espOff+8:])
		if got, want := iv, uint64(s.sa.ivPrefix)<<32|uint64(i); got != want {
			t.Errorf("packet %d IV = %#016x, want %#016x", i, got, want)
		}
	}
}

func TestSendersOfOneKeyHaveDistinctSPIs(t *testing.T) {
	k := newTestKey(t, vnetA, ModeConf, psk1)
	seen := map[uint32]bool{}
	for i := 0; i < 64; i++ {
		s := newTestSender(t, k, host1)
		if s.SPI() < 256 {
			t.Errorf("sender %d has reserved SPI %d", i, s.SPI())
		}
		if seen[s.SPI()] {
			t.Errorf("sender %d reuses SPI %#x", i, s.SPI())
		}
		seen[s.SPI()] = true
	}
}

func TestReplayIsRejected(t *testing.T) {
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		frame := sealed(t, s, 100, 1)
		copyOfFrame := clone(frame)
		if res := open(o, frame); res.Reason != ReasonNone {
			t.Fatalf("%s: first Open = %v, want accepted", mode, res.Reason)
		}
		if res := open(o, copyOfFrame); res.Reason != ReasonReplay {
			t.Errorf("%s: second Open of the same packet = %v, want %v", mode, res.Reason, ReasonReplay)
		}
	}
}

func TestReorderInsideWindowIsAccepted(t *testing.T) {
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))

		const n = WindowSize + 100
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = sealed(t, s, 60, byte(i))
		}
		// The newest packet arrives first, then the rest from newest to
		// oldest: all but those older than the window are accepted.
		for i := n - 1; i >= 0; i-- {
			seq := uint64(i + 1)
			want := ReasonNone
			if uint64(n)-seq >= WindowSize {
				want = ReasonReplay
			}
			if res := open(o, clone(frames[i])); res.Reason != want {
				t.Errorf("%s: Open(seq %d) after seq %d = %v, want %v", mode, seq, n, res.Reason, want)
			}
		}
		// Every accepted packet is now a replay.
		for i := n - 1; i >= n-10; i-- {
			if res := open(o, clone(frames[i])); res.Reason != ReasonReplay {
				t.Errorf("%s: second Open(seq %d) = %v, want %v", mode, i+1, res.Reason, ReasonReplay)
			}
		}
	}
}

func TestDecryptionResumesAfterLoss(t *testing.T) {
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		if res := open(o, sealed(t, s, 60, 0)); res.Reason != ReasonNone {
			t.Fatalf("%s: Open(seq 1) = %v", mode, res.Reason)
		}
		// A large gap, as after a long outage: the next packet opens.
		s.seq = 3_000_000_000
		frame := sealed(t, s, 60, 0)
		if res := open(o, frame); res.Reason != ReasonNone || res.Seq != 3_000_000_001 {
			t.Errorf("%s: Open after a loss of 3e9 packets = %v (seq %d), want accepted", mode, res.Reason, res.Seq)
		}
	}
}

func TestSequenceRolloverContinues(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			k := newTestKey(t, vnetA, mode, psk1)
			s := newTestSender(t, k, host1)
			_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
			s.seq = math.MaxUint32 - 5
			oldSPI := s.SPI()

			var frames [][]byte
			for i := 0; i < 10; i++ {
				frames = append(frames, sealed(t, s, 100, byte(i)))
			}
			newSPI := s.SPI()
			if newSPI == oldSPI {
				t.Fatalf("SPI after 2^32-1 packets = %#x, want a new SPI", newSPI)
			}
			for i, f := range frames {
				wantSPI, wantSeq := oldSPI, uint32(math.MaxUint32-5+i+1)
				if i >= 5 {
					wantSPI, wantSeq = newSPI, uint32(i-4)
				}
				esp := f[wire.EthHeaderLen+wire.IPv4HeaderLen:]
				if spi, seq := binary.BigEndian.Uint32(esp), binary.BigEndian.Uint32(esp[4:]); spi != wantSPI || seq != wantSeq {
					t.Errorf("packet %d has SPI %#x seq %d, want SPI %#x seq %d", i, spi, seq, wantSPI, wantSeq)
				}
			}
			// Delivered out of order across the boundary, every packet opens.
			for _, i := range []int{5, 0, 1, 7, 2, 3, 4, 6, 9, 8} {
				if res := open(o, frames[i]); res.Reason != ReasonNone {
					t.Errorf("Open(packet %d) = %v, want accepted", i, res.Reason)
				}
			}
		})
	}
}

func TestTamperedBytesAreRejected(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			k := newTestKey(t, vnetA, mode, psk1)
			s := newTestSender(t, k, host1)
			_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
			// Packet 1 creates the SA, so that tampered copies of packet 2
			// meet a known SA and a window that has not seen them.
			if res := open(o, sealed(t, s, 60, 0)); res.Reason != ReasonNone {
				t.Fatalf("Open(seq 1) = %v", res.Reason)
			}
			frame := sealed(t, s, 100, 2)
			espOff := wire.EthHeaderLen + wire.IPv4HeaderLen
			for i := espOff; i < len(frame); i++ {
				for _, flip := range []byte{0x01, 0x80, 0xff} {
					f := clone(frame)
					f[i] ^= flip
					res := open(o, f)
					want := ReasonAuth
					switch {
					case i < espOff+4:
						want = ReasonNoSA
						if binary.BigEndian.Uint32(f[espOff:]) < 256 {
							want = ReasonMalformed
						}
					case i < espOff+8 && binary.BigEndian.Uint32(f[espOff+4:]) == 0:
						want = ReasonMalformed
					}
					if res.Reason != want {
						t.Errorf("Open(byte %d ^ %#02x) = %v, want %v", i-espOff, flip, res.Reason, want)
					}
				}
			}
			// The untouched packet still opens: no tampered copy moved the
			// window.
			if res := open(o, frame); res.Reason != ReasonNone {
				t.Errorf("Open(original) = %v, want accepted", res.Reason)
			}
		})
	}
}

func TestOuterHeaderFields(t *testing.T) {
	// ESP in transport mode does not cover the IPv4 header. The source
	// address is bound through the key derivation. The destination and TTL
	// may change on the way, by multicast forwarding or routers, and do not
	// change the result.
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))

		tests := []struct {
			name   string
			change func(ip wire.IPv4)
			want   Reason
		}{
			{"source", func(ip wire.IPv4) { ip.SetSrc(host3) }, ReasonNoSA},
			{"destination", func(ip wire.IPv4) { ip.SetDst(host3) }, ReasonNone},
			{"TTL", func(ip wire.IPv4) { ip.SetTTL(1) }, ReasonNone},
			{"protocol", func(ip wire.IPv4) { ip[9] = wire.ProtoUDP }, ReasonMalformed},
			{"fragment", func(ip wire.IPv4) { ip[6] |= 0x20 }, ReasonMalformed},
			{"total length +4", func(ip wire.IPv4) {
				binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+4))
			}, ReasonTruncated},
			{"total length -4", func(ip wire.IPv4) {
				binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)-4))
			}, ReasonAuth},
		}
		for _, tt := range tests {
			f := sealed(t, s, 100, 3)
			ip := wire.IPv4(f[wire.EthHeaderLen:])
			tt.change(ip)
			ip.UpdateChecksum()
			if res := open(o, f); res.Reason != tt.want {
				t.Errorf("%s: Open(changed %s) = %v, want %v", mode, tt.name, res.Reason, tt.want)
			}
		}
	}
}

func TestTruncatedPacketsAreRejected(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			k := newTestKey(t, vnetA, mode, psk1)
			s := newTestSender(t, k, host1)
			_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
			if res := open(o, sealed(t, s, 60, 0)); res.Reason != ReasonNone {
				t.Fatalf("Open(seq 1) = %v", res.Reason)
			}
			ip := sealed(t, s, 100, 2)[wire.EthHeaderLen:]

			// Cut short, with the total length still that of the whole
			// packet.
			for n := 0; n < len(ip); n++ {
				if res := o.Open(clone(ip[:n])); res.Reason != ReasonTruncated {
					t.Errorf("Open(first %d of %d bytes) = %v, want %v", n, len(ip), res.Reason, ReasonTruncated)
				}
			}
			// Cut short with a total length that matches: each length
			// fails on its own reason, never accepted.
			for n := wire.IPv4HeaderLen; n < len(ip); n++ {
				cut := clone(ip[:n])
				binary.BigEndian.PutUint16(cut[2:], uint16(n))
				wire.IPv4(cut).UpdateChecksum()
				esp := n - wire.IPv4HeaderLen
				want := ReasonAuth
				switch {
				case esp < 8+4+ICVLen:
					want = ReasonTruncated
				case esp%4 != 0:
					want = ReasonMalformed
				case mode.checkLen(esp) != ReasonNone:
					want = mode.checkLen(esp)
				}
				if res := o.Open(cut); res.Reason != want {
					t.Errorf("Open(%d-byte packet with matching length) = %v, want %v", n, res.Reason, want)
				}
			}
		})
	}
}

func TestLinkPaddingIsIgnored(t *testing.T) {
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		frame := sealed(t, s, 14, 0)
		padded := append(clone(frame), make([]byte, 20)...)
		if res := open(o, padded); res.Reason != ReasonNone {
			t.Errorf("%s: Open(frame with 20 bytes of Ethernet padding) = %v, want accepted", mode, res.Reason)
		}
	}
}

func TestWrongKeyIsRejected(t *testing.T) {
	for _, mode := range modes {
		s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk2))
		if res := open(o, sealed(t, s, 100, 0)); res.Reason != ReasonNoSA {
			t.Errorf("%s: Open(packet under another PSK) = %v, want %v", mode, res.Reason, ReasonNoSA)
		}
	}
}

func TestWrongModeIsRejected(t *testing.T) {
	for _, mode := range modes {
		other := ModeConf
		if mode == ModeConf {
			other = ModeAuth
		}
		s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, other, psk1))
		if res := open(o, sealed(t, s, 100, 0)); res.Reason != ReasonNoSA {
			t.Errorf("Open(%s packet at a %s receiver with the same PSK) = %v, want %v", mode, other, res.Reason, ReasonNoSA)
		}
	}
}

func TestWrongVnetIsRejected(t *testing.T) {
	for _, mode := range modes {
		// The receiver has vnet B with the PSK that vnet A uses on the
		// sender: the vnet id in the key derivation keeps them apart.
		s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetB, mode, psk1))
		if res := open(o, sealed(t, s, 100, 0)); res.Reason != ReasonNoSA {
			t.Errorf("%s: Open(vnet A packet at a receiver with only vnet B) = %v, want %v", mode, res.Reason, ReasonNoSA)
		}

		// A sender of vnet A that puts vnet B's id in the EtherIP header:
		// Open reports vnet A, which the caller compares with the header.
		sA := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		_, oA := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1), newTestKey(t, vnetB, mode, psk1))
		frame := sealFrame(t, sA, vudpFrame(mode, host1, host2, vnetB, innerFrame(100, 0)))
		res := open(oA, frame)
		if res.Reason != ReasonNone || res.Vnet != vnetA {
			t.Fatalf("%s: Open = %v for vnet %s, want accepted for vnet %s", mode, res.Reason, res.Vnet, vnetA)
		}
		e, ok := wire.ParseEtherIP(payloadOf(frame, res)[wire.UDPHeaderLen+wire.MsgHeaderLen:])
		if !ok || e.Vnet() != vnetB {
			t.Fatalf("%s: decrypted EtherIP header = %v, %v, want vnet %s", mode, e, ok, vnetB)
		}
		if e.Vnet() == res.Vnet {
			t.Errorf("%s: EtherIP vnet %s equals SA vnet %s; the caller could not reject it", mode, e.Vnet(), res.Vnet)
		}
	}
}

func TestSourceAddressIsBound(t *testing.T) {
	for _, mode := range modes {
		// Host 3 has the PSK but puts host 1's address on its packets. The
		// receiver derives host 1's key, which does not verify them.
		s3 := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host3)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		frame := sealed(t, s3, 100, 0)
		ip := wire.IPv4(frame[wire.EthHeaderLen:])
		ip.SetSrc(host1)
		ip.UpdateChecksum()
		if res := open(o, frame); res.Reason != ReasonNoSA {
			t.Errorf("%s: Open(packet of host 3 with host 1's address) = %v, want %v", mode, res.Reason, ReasonNoSA)
		}
	}
}

func TestMalformedHeaders(t *testing.T) {
	s := newTestSender(t, newTestKey(t, vnetA, ModeConf, psk1), host1)
	_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, ModeConf, psk1))
	espOff := wire.EthHeaderLen + wire.IPv4HeaderLen
	tests := []struct {
		name   string
		change func(f []byte)
		want   Reason
	}{
		{"SPI 0", func(f []byte) { binary.BigEndian.PutUint32(f[espOff:], 0) }, ReasonMalformed},
		{"SPI 255", func(f []byte) { binary.BigEndian.PutUint32(f[espOff:], 255) }, ReasonMalformed},
		{"sequence 0", func(f []byte) { binary.BigEndian.PutUint32(f[espOff+4:], 0) }, ReasonMalformed},
		{"IPv6 version", func(f []byte) { f[wire.EthHeaderLen] = 0x65 }, ReasonMalformed},
		{"IHL 4", func(f []byte) { f[wire.EthHeaderLen] = 0x44 }, ReasonMalformed},
	}
	for _, tt := range tests {
		f := sealed(t, s, 100, 0)
		tt.change(f)
		if res := open(o, f); res.Reason != tt.want {
			t.Errorf("Open(%s) = %v, want %v", tt.name, res.Reason, tt.want)
		}
	}
}

func TestBadPaddingIsRejected(t *testing.T) {
	tests := []struct {
		name string
		body []byte // payload, padding, pad length, next header
	}{
		{"pad length beyond the body", []byte{0xaa, 0xbb, 9, wire.ProtoUDP}},
		{"padding bytes 7 7", []byte{0xaa, 0xbb, 7, 7, 2, wire.ProtoUDP, 0, 0}[:6]},
		{"padding bytes 2 1", []byte{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 2, 1, 2, wire.ProtoUDP, 0, 0}[:10]},
	}
	for _, mode := range modes {
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		for i, tt := range tests {
			body := tt.body
			for len(body)%4 != 0 {
				// Keep the 4-byte alignment, so that only the padding is wrong.
				body = append([]byte{0x11}, body...)
			}
			pkt := rawESP(s.sa.saMaterial, host1, body, uint32(i+1))
			if res := o.Open(pkt); res.Reason != ReasonPadding {
				t.Errorf("%s: Open(%s) = %v, want %v", mode, tt.name, res.Reason, ReasonPadding)
			}
		}
	}
}

// rawESP returns an IPv4 ESP packet from src whose body (the bytes
// between the ESP header and the ICV) is body as given, protected with m:
// a faulty sender's packet with a valid ICV.
func rawESP(m *saMaterial, src [4]byte, body []byte, seq uint32) []byte {
	h := m.mode.HeaderLen()
	pkt := make([]byte, wire.IPv4HeaderLen+h+len(body)+ICVLen)
	ip := wire.IPv4(pkt)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
	ip[8], ip[9] = 64, ProtoESP
	ip.SetSrc(src)
	ip.SetDst(host2)
	ip.UpdateChecksum()

	esp := pkt[wire.IPv4HeaderLen:]
	binary.BigEndian.PutUint32(esp[0:], m.id.spi)
	binary.BigEndian.PutUint32(esp[4:], seq)
	copy(esp[h:], body)
	end := h + len(body)
	if m.mode == ModeConf {
		binary.BigEndian.PutUint64(esp[8:], uint64(seq))
		nonce := append(m.salt[:], esp[8:16]...)
		m.aead.Seal(esp[h:h], nonce, esp[h:end], esp[0:8])
	} else {
		icv := newHMACState().sum256(m.mac, esp[:end])
		copy(esp[end:], icv[:ICVLen])
	}
	return pkt
}
