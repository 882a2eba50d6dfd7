package wire

import (
	"fmt"
	"testing"
)

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 512, 1500} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			var sum uint32
			for b.Loop() {
				sum = Checksum(buf, sum)
			}
		})
	}
}

func BenchmarkPutVUDP(b *testing.B) {
	buf := make([]byte, EncapLen+1450)
	o := &Outer{EthDst: hostMAC2, EthSrc: hostMAC1, Src: host1, Dst: host2, TTL: DefaultTTL, SrcPort: Port, Vnet: vnet1500}
	b.ReportAllocs()
	b.SetBytes(EncapLen)
	for b.Loop() {
		PutVUDP(buf, o, 1450)
	}
}

func BenchmarkClassify(b *testing.B) {
	frames := []struct {
		name  string
		frame []byte
	}{
		{"data_unicast", goldenVUDPUnicast},
		{"varp_request", goldenVarpRequest},
		{"forward", goldenForwardSynthesised},
	}
	for _, fr := range frames {
		b.Run(fr.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(fr.frame)))
			for b.Loop() {
				Classify(fr.frame)
			}
		})
	}
}

func BenchmarkCompleteL4Checksum(b *testing.B) {
	for _, c := range []l4Frame{
		{proto: ProtoTCP, payload: make([]byte, 1448)},
		{ipv6: true, proto: ProtoUDP, payload: make([]byte, 1400)},
	} {
		frame, off := c.build()
		_, partial := c.checksums(frame, off)
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				putField(frame, off, partial)
				CompleteL4Checksum(frame)
			}
		})
	}
}
