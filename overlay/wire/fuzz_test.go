package wire

import (
	"bytes"
	"testing"
)

// addFrameSeeds adds the capture frames and the golden packets, whole and
// from the given offset, to the fuzz corpus.
func addFrameSeeds(f *testing.F, offset int) {
	frames := readCapture(f)
	frames = append(frames, goldenVUDPGroup, goldenVUDPUnicast, goldenVarpRequest,
		goldenVarpAnnounce, goldenForward, goldenForwardSynthesised, goldenEtherIP,
		innerARP, innerUDP)
	for _, fr := range frames {
		if len(fr) >= offset {
			f.Add(fr[offset:])
		}
	}
}

func FuzzParseEthernet(f *testing.F) {
	addFrameSeeds(f, 0)
	f.Add(mustHex("ffffffffffff 020000000001 88a8 0064 8100 00c8 0800"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := ParseEthernet(b)
		if !ok {
			return
		}
		_, _, _ = e.Dst(), e.Src(), e.EtherType()
		_ = e.Payload()
		_, off, ok := e.L3()
		if ok && (off < EthHeaderLen || off > len(b)) {
			t.Fatalf("L3(%x) offset %d outside %d..%d", b, off, EthHeaderLen, len(b))
		}
	})
}

func FuzzParseIPv4(f *testing.F) {
	addFrameSeeds(f, EthHeaderLen)
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := ParseIPv4(b)
		if !ok {
			return
		}
		if len(ip) != ip.TotalLen() || ip.HeaderLen() < IPv4HeaderLen || ip.HeaderLen() > len(ip) {
			t.Fatalf("ParseIPv4(%x): len %d, TotalLen %d, HeaderLen %d inconsistent", b, len(ip), ip.TotalLen(), ip.HeaderLen())
		}
		_, _, _, _ = ip.ID(), ip.DontFragment(), ip.MoreFragments(), ip.FragmentOffset()
		_, _, _, _ = ip.IsFragment(), ip.TTL(), ip.Protocol(), ip.Checksum()
		_, _, _ = ip.Src(), ip.Dst(), ip.ChecksumValid()
		if len(ip.Payload()) != ip.TotalLen()-ip.HeaderLen() {
			t.Fatalf("ParseIPv4(%x): Payload() has %d bytes, want %d", b, len(ip.Payload()), ip.TotalLen()-ip.HeaderLen())
		}
	})
}

func FuzzParseUDP(f *testing.F) {
	addFrameSeeds(f, EthHeaderLen+IPv4HeaderLen)
	f.Fuzz(func(t *testing.T, b []byte) {
		u, ok := ParseUDP(b)
		if !ok {
			return
		}
		if len(u) != int(u.Length()) || len(u) < UDPHeaderLen {
			t.Fatalf("ParseUDP(%x): len %d, Length() %d", b, len(u), u.Length())
		}
		_, _, _ = u.SrcPort(), u.DstPort(), u.Checksum()
		_ = u.Payload()
	})
}

func FuzzParseMsgHeader(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2})
	f.Add([]byte{0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, ok := ParseMsgHeader(b)
		if ok != (len(b) >= MsgHeaderLen) {
			t.Fatalf("ParseMsgHeader(%x) ok = %v for %d bytes", b, ok, len(b))
		}
	})
}

func FuzzParseEtherIP(f *testing.F) {
	addFrameSeeds(f, EthHeaderLen+IPv4HeaderLen+UDPHeaderLen+MsgHeaderLen)
	f.Add(etherIPMessage("0f4f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := ParseEtherIP(b)
		if !ok {
			return
		}
		if e.Version() != EtherIPVersion || len(e.Frame()) < EthHeaderLen {
			t.Fatalf("ParseEtherIP(%x): version %d, frame of %d bytes", b, e.Version(), len(e.Frame()))
		}
		_ = e.Vnet()
	})
}

func FuzzParseVarp(f *testing.F) {
	addFrameSeeds(f, EthHeaderLen+IPv4HeaderLen+UDPHeaderLen)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := ParseVarp(b)
		if !ok {
			return
		}
		if len(v) != VarpLen {
			t.Fatalf("ParseVarp(%x) len = %d, want %d", b, len(v), VarpLen)
		}
		_, _, _, _, _ = v.Opcode(), v.Vnet(), v.MAC(), v.Family(), v.Addr()
	})
}

func FuzzParseForward(f *testing.F) {
	addFrameSeeds(f, EthHeaderLen+IPv4HeaderLen+UDPHeaderLen+MsgHeaderLen)
	f.Add(forwardInner("0000 0000 0000 0000 0011 0000 c6120005 e00a0001"))
	f.Add(forwardInner("4600 004b 0000 0000 4011 0000 c6120005 e00a0001 94040000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fw, ok := ParseForward(b)
		if !ok {
			return
		}
		if fw.InnerProtocol() != ProtoUDP || len(fw.InnerMsg()) < MsgHeaderLen || len(fw.InnerUDP()) < UDPHeaderLen+MsgHeaderLen {
			t.Fatalf("ParseForward(%x): protocol %d, inner UDP %d bytes", b, fw.InnerProtocol(), len(fw.InnerUDP()))
		}
		_, _, _ = fw.InnerSrc(), fw.InnerDst(), fw.InnerHeaderLen()
	})
}

func FuzzClassify(f *testing.F) {
	addFrameSeeds(f, 0)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, r := Classify(frame)
		if c > ClassMalformed || r > ReasonFragment {
			t.Fatalf("Classify(%x) = %d, %d, out of range", frame, c, r)
		}
		if (c == ClassMalformed) != (r != ReasonNone) {
			t.Fatalf("Classify(%x) = %v, %v: reason must be set exactly for malformed frames", frame, c, r)
		}
	})
}

func FuzzCompleteL4Checksum(f *testing.F) {
	addFrameSeeds(f, 0)
	for _, c := range l4Cases()[:20] {
		frame, off := c.build()
		_, partial := c.checksums(frame, off)
		putField(frame, off, partial)
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		before := clone(frame)
		_ = L4ChecksumValid(frame)
		if CompleteL4Checksum(frame) {
			if !L4ChecksumValid(frame) {
				t.Fatalf("CompleteL4Checksum(%x) = true but the checksum does not verify", before)
			}
		} else if !bytes.Equal(frame, before) {
			t.Fatalf("CompleteL4Checksum(%x) = false but changed the frame", before)
		}
	})
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 77), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, initial uint32) {
		if got, want := Fold(Checksum(b, initial)), referenceSum(b, initial); got != want {
			t.Fatalf("Fold(Checksum(%x, %#x)) = %#04x, want %#04x", b, initial, got, want)
		}
	})
}
