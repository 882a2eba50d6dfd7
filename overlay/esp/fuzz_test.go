package esp

import (
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

// FuzzOpen feeds arbitrary IPv4 packets to Open. Open must not panic,
// must locate an accepted payload inside the packet, and must not accept
// an ESP part that the seeds' senders did not seal: the fuzzer cannot
// forge an ICV. The IPv4 header other than the source address is not
// protected, so changes to it may be accepted.
func FuzzOpen(f *testing.F) {
	keys := map[Mode]*Key{}
	sealedByUs := map[string]bool{}
	for i, mode := range modes {
		k, err := NewKey([]wire.VnetID{vnetA, vnetB}[i], mode, psk1)
		if err != nil {
			f.Fatal(err)
		}
		keys[mode] = k
		// Fuzzing workers run this setup again in other processes, so the
		// seeds' SAs must not depend on random SPIs.
		s := fixedSender(f, k, host1, 0x1000+uint32(i))
		for _, n := range []int{14, 61, 300} {
			frame := sealed(f, s, n, byte(n))
			ip := frame[wire.EthHeaderLen:]
			sealedByUs[protectedPart(ip)] = true
			f.Add(clone(ip))
		}
	}
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, ProtoESP, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2})

	f.Fuzz(func(t *testing.T, pkt []byte) {
		d := NewSAD(Config{TrialBurst: 4})
		for _, k := range keys {
			recv, err := NewKey(k.Vnet(), k.Mode(), psk1)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Add(recv); err != nil {
				t.Fatal(err)
			}
			defer recv.Close()
		}
		o := d.NewOpener()
		defer o.Close()

		original := string(pkt)
		res := o.Open(pkt)
		if res.Reason >= NumReasons {
			t.Fatalf("Open returned unknown reason %d", res.Reason)
		}
		if res.Reason != ReasonNone {
			return
		}
		if res.Offset < wire.IPv4HeaderLen || res.Length < 0 || res.Offset+res.Length > len(pkt) {
			t.Fatalf("Open accepted with payload [%d:%d] outside a %d-byte packet", res.Offset, res.Offset+res.Length, len(pkt))
		}
		ip, ok := wire.ParseIPv4(pkt)
		if !ok {
			t.Fatalf("Open accepted a packet that is not IPv4")
		}
		if !sealedByUs[protectedPart([]byte(original)[:len(ip)])] {
			t.Fatalf("Open accepted a packet no sender sealed: %x", original)
		}
	})
}

// protectedPart returns what ESP protects of an IPv4 packet: the ESP
// part, and the source address, which selects the SA key.
func protectedPart(ip []byte) string {
	hl := int(ip[0]&0x0f) * 4
	return string(ip[12:16]) + string(ip[hl:])
}
