package esp

import (
	"testing"

	"github.com/vnet-xdp/vnet/overlay/wire"
)

func TestSealAndOpenAllocateNothing(t *testing.T) {
	const runs = 100
	for _, mode := range modes {
		for _, n := range []int{60, 1514} {
			s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
			_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
			if res := open(o, sealed(t, s, n, 0)); res.Reason != ReasonNone {
				t.Fatalf("Open = %v", res.Reason)
			}

			plain := vudpFrame(mode, host1, host2, vnetA, innerFrame(n, 0))
			buf := make([]byte, len(plain))
			if allocs := testing.AllocsPerRun(runs, func() {
				copy(buf, plain)
				if _, err := s.Seal(buf[wire.EthHeaderLen:]); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("%s Seal of a %d-byte frame: %.1f allocations, want 0", mode, n, allocs)
			}

			frames := make([][]byte, runs+1)
			for i := range frames {
				frames[i] = sealed(t, s, n, byte(i))
			}
			// A copy of a packet before Open decrypts it, to replay later.
			replayed := clone(frames[0])
			i := 0
			if allocs := testing.AllocsPerRun(runs, func() {
				if res := open(o, frames[i]); res.Reason != ReasonNone {
					t.Fatalf("Open(packet %d) = %v", i, res.Reason)
				}
				i++
			}); allocs != 0 {
				t.Errorf("%s Open of a %d-byte frame: %.1f allocations, want 0", mode, n, allocs)
			}

			// Rejections allocate nothing either: replays, and tampered
			// packets of a known SA.
			replay := make([]byte, len(replayed))
			tampered := sealed(t, s, n, 1)
			tampered[len(tampered)-1] ^= 1
			if allocs := testing.AllocsPerRun(runs, func() {
				copy(replay, replayed)
				if res := open(o, replay); res.Reason != ReasonReplay {
					t.Fatalf("Open(replay) = %v", res.Reason)
				}
				if res := open(o, tampered); res.Reason != ReasonAuth {
					t.Fatalf("Open(tampered) = %v", res.Reason)
				}
			}); allocs != 0 {
				t.Errorf("%s Open of rejected %d-byte frames: %.1f allocations, want 0", mode, n, allocs)
			}
		}
	}
}
