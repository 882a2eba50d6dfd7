package esp

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSenderRestart(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			_, o := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))

			// In the first run of the sender's daemon, an attacker records
			// its packets.
			before := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
			var recorded [][]byte
			for i := 0; i < 20; i++ {
				f := sealed(t, before, 100, byte(i))
				recorded = append(recorded, clone(f))
				if res := open(o, f); res.Reason != ReasonNone {
					t.Fatalf("Open(first run, packet %d) = %v", i, res.Reason)
				}
			}

			// The daemon restarts: a new Key and Sender, nothing kept.
			after := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
			if after.SPI() == before.SPI() {
				t.Fatalf("restarted sender drew the same SPI %#x", after.SPI())
			}
			if res := open(o, sealed(t, after, 100, 0)); res.Reason != ReasonNone || res.Seq != 1 {
				t.Errorf("Open(first packet after restart) = %v (seq %d), want accepted", res.Reason, res.Seq)
			}
			for i, f := range recorded {
				if res := open(o, clone(f)); res.Reason != ReasonReplay {
					t.Errorf("Open(recorded packet %d replayed after restart) = %v, want %v", i, res.Reason, ReasonReplay)
				}
			}
			if res := open(o, sealed(t, after, 100, 1)); res.Reason != ReasonNone {
				t.Errorf("Open(second packet after restart) = %v, want accepted", res.Reason)
			}
		})
	}
}

func TestRetiredSAStillRejectsReplays(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			d, o := newTestSAD(t, Config{MaxSAs: 2}, newTestKey(t, vnetA, mode, psk1))
			o.Tick(epoch)

			old := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
			var recorded [][]byte
			for i := 0; i < 5; i++ {
				f := sealed(t, old, 100, byte(i))
				recorded = append(recorded, clone(f))
				if res := open(o, f); res.Reason != ReasonNone {
					t.Fatalf("Open(packet %d) = %v", i, res.Reason)
				}
			}
			// Two newer senders push the old SA out of the table.
			o.Tick(epoch.Add(time.Minute))
			for _, src := range [][4]byte{host2, host3} {
				s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), src)
				if res := open(o, sealed(t, s, 100, 0)); res.Reason != ReasonNone {
					t.Fatalf("Open(sender %v) = %v", src, res.Reason)
				}
			}
			if d.Len() != 2 || d.RetiredLen() != 1 {
				t.Fatalf("SAD holds %d SAs and %d retired, want 2 and 1", d.Len(), d.RetiredLen())
			}

			for i, f := range recorded {
				if res := open(o, clone(f)); res.Reason != ReasonReplay {
					t.Errorf("Open(replay of packet %d of the retired SA) = %v, want %v", i, res.Reason, ReasonReplay)
				}
			}
			// The old sender was only idle: its next packet revives the SA,
			// which still rejects the old numbers.
			if res := open(o, sealed(t, old, 100, 9)); res.Reason != ReasonNone || res.Seq != 6 {
				t.Errorf("Open(next packet of the retired SA) = %v (seq %d), want accepted seq 6", res.Reason, res.Seq)
			}
			if d.RetiredLen() != 1 {
				t.Errorf("retired entries after revival = %d, want 1 (another SA retired in its place)", d.RetiredLen())
			}
			for i, f := range recorded {
				if res := open(o, clone(f)); res.Reason != ReasonReplay {
					t.Errorf("Open(replay of packet %d after revival) = %v, want %v", i, res.Reason, ReasonReplay)
				}
			}
		})
	}
}

func TestRetiredListForgetsOldest(t *testing.T) {
	d, o := newTestSAD(t, Config{MaxSAs: 1, MaxRetired: 3}, newTestKey(t, vnetA, ModeAuth, psk1))
	k := newTestKey(t, vnetA, ModeAuth, psk1)
	var first []byte
	for i := 0; i < 6; i++ {
		s := newTestSender(t, k, host1)
		f := sealed(t, s, 60, 0)
		if i == 0 {
			first = clone(f)
		}
		if res := open(o, f); res.Reason != ReasonNone {
			t.Fatalf("Open(sender %d) = %v", i, res.Reason)
		}
	}
	if d.Len() != 1 || d.RetiredLen() != 3 {
		t.Errorf("SAD holds %d SAs and %d retired, want 1 and 3", d.Len(), d.RetiredLen())
	}
	// The first SA is beyond the retired list: its packet is new again.
	// This is the documented limit of MaxRetired.
	if res := open(o, first); res.Reason != ReasonNone {
		t.Errorf("Open(packet of a forgotten SA) = %v, want accepted", res.Reason)
	}
}

func TestTrialBudgetLimitsUnknownSPIs(t *testing.T) {
	_, o := newTestSAD(t, Config{TrialBurst: 3, TrialRate: 10}, newTestKey(t, vnetA, ModeConf, psk1))
	o.Tick(epoch)
	k := newTestKey(t, vnetA, ModeConf, psk2)
	for i := 0; i < 3; i++ {
		if res := open(o, sealed(t, newTestSender(t, k, host1), 60, 0)); res.Reason != ReasonNoSA {
			t.Fatalf("Open(unknown SA %d) = %v, want %v", i, res.Reason, ReasonNoSA)
		}
	}
	good := newTestSender(t, newTestKey(t, vnetA, ModeConf, psk1), host1)
	if res := open(o, sealed(t, good, 60, 0)); res.Reason != ReasonRateLimited {
		t.Errorf("Open(new SA with the budget spent) = %v, want %v", res.Reason, ReasonRateLimited)
	}
	// 100 ms at 10 trials per second buys one trial.
	o.Tick(epoch.Add(100 * time.Millisecond))
	if res := open(o, sealed(t, good, 60, 0)); res.Reason != ReasonNone {
		t.Errorf("Open(new SA after the budget refilled) = %v, want accepted", res.Reason)
	}
	// Known SAs need no trials.
	for i := 0; i < 10; i++ {
		if res := open(o, sealed(t, good, 60, 0)); res.Reason != ReasonNone {
			t.Errorf("Open(known SA, packet %d) = %v, want accepted", i, res.Reason)
		}
	}
}

func TestEachVnetKeyIsTried(t *testing.T) {
	keys := []*Key{
		newTestKey(t, vnetA, ModeAuth, psk1),
		newTestKey(t, vnetB, ModeConf, psk2),
	}
	_, o := newTestSAD(t, Config{}, keys...)
	for _, tc := range []struct {
		key  *Key
		want Mode
	}{
		{newTestKey(t, vnetA, ModeAuth, psk1), ModeAuth},
		{newTestKey(t, vnetB, ModeConf, psk2), ModeConf},
	} {
		s := newTestSender(t, tc.key, host1)
		res := open(o, sealed(t, s, 60, 0))
		if res.Reason != ReasonNone || res.Vnet != tc.key.Vnet() || res.Mode != tc.want {
			t.Errorf("Open(%s packet of vnet %s) = %v, vnet %s, mode %s", tc.want, tc.key.Vnet(), res.Reason, res.Vnet, res.Mode)
		}
	}
}

func TestConcurrentOpenAcceptsEachPacketOnce(t *testing.T) {
	for _, mode := range modes {
		d, _ := newTestSAD(t, Config{}, newTestKey(t, vnetA, mode, psk1))
		s := newTestSender(t, newTestKey(t, vnetA, mode, psk1), host1)
		const n = 2000
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = sealed(t, s, 200, byte(i))
		}

		// Four workers receive every packet, as if the network
		// duplicated each one to four queues.
		var accepted, replays atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := d.NewOpener()
				defer o.Close()
				for i, f := range frames {
					if i%64 == 0 {
						o.Tick(time.Now())
					}
					switch res := open(o, clone(f)); res.Reason {
					case ReasonNone:
						accepted.Add(1)
					case ReasonReplay:
						replays.Add(1)
					default:
						t.Errorf("%s: Open(packet %d) = %v", mode, i, res.Reason)
					}
				}
			}()
		}
		wg.Wait()
		if accepted.Load() != n || replays.Load() != 3*n {
			t.Errorf("%s: %d accepted and %d replays of %d packets seen 4 times, want %d and %d",
				mode, accepted.Load(), replays.Load(), n, n, 3*n)
		}
	}
}

func TestConcurrentSendersAndEviction(t *testing.T) {
	// Workers seal and open in parallel while a small table keeps
	// retiring SAs: run with -race to check the SAD's locking.
	d, _ := newTestSAD(t, Config{MaxSAs: 3, MaxRetired: 8}, newTestKey(t, vnetA, ModeConf, psk1))
	k := newTestKey(t, vnetA, ModeConf, psk1)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := d.NewOpener()
			defer o.Close()
			src := [4]byte{198, 18, 1, byte(w)}
			for round := 0; round < 20; round++ {
				s, err := k.NewSender(src)
				if err != nil {
					t.Errorf("NewSender = %v", err)
					return
				}
				for i := 0; i < 20; i++ {
					o.Tick(time.Now())
					if res := open(o, sealed(t, s, 100, byte(i))); res.Reason != ReasonNone && res.Reason != ReasonReplay {
						t.Errorf("Open = %v", res.Reason)
					}
				}
				s.Close()
			}
		}()
	}
	wg.Wait()
	if d.Len() > 3 {
		t.Errorf("SAD holds %d SAs, want at most 3", d.Len())
	}
}

func TestRetiredSAKeysAreZeroedAfterEveryOpenerTicked(t *testing.T) {
	d, o1 := newTestSAD(t, Config{MaxSAs: 1}, newTestKey(t, vnetA, ModeAuth, psk1))
	o2 := d.NewOpener()
	defer o2.Close()
	k := newTestKey(t, vnetA, ModeAuth, psk1)
	if res := open(o1, sealed(t, newTestSender(t, k, host1), 60, 0)); res.Reason != ReasonNone {
		t.Fatalf("Open = %v", res.Reason)
	}
	var first *inboundSA
	for _, sa := range *d.sas.Load() {
		first = sa
	}
	if res := open(o1, sealed(t, newTestSender(t, k, host2), 60, 0)); res.Reason != ReasonNone {
		t.Fatalf("Open = %v", res.Reason)
	}
	if isZero(first.key) {
		t.Fatalf("retired SA zeroed while Opener 2 may still use it")
	}
	o1.Tick(time.Now())
	if isZero(first.key) {
		t.Fatalf("retired SA zeroed before Opener 2 ticked")
	}
	o2.Tick(time.Now())
	o1.Tick(time.Now())
	if !isZero(first.key) || !isZero(first.mac.inner) || !isZero(first.mac.outer) {
		t.Errorf("retired SA keys not zeroed after every Opener ticked")
	}
}

func TestKeyCloseZeroesEverything(t *testing.T) {
	for _, mode := range modes {
		recv := newTestKey(t, vnetA, mode, psk1)
		d, o := newTestSAD(t, Config{}, recv)
		k := newTestKey(t, vnetA, mode, psk1)
		s := newTestSender(t, k, host1)
		if res := open(o, sealed(t, s, 60, 0)); res.Reason != ReasonNone {
			t.Fatalf("Open = %v", res.Reason)
		}
		var in *inboundSA
		for _, sa := range *d.sas.Load() {
			in = sa
		}
		out := s.sa

		d.Remove(recv)
		if d.Len() != 0 {
			t.Errorf("%s: SAD holds %d SAs after Remove, want 0", mode, d.Len())
		}
		if res := open(o, sealed(t, s, 60, 0)); res.Reason != ReasonNoSA {
			t.Errorf("%s: Open after Remove = %v, want %v", mode, res.Reason, ReasonNoSA)
		}
		recv.Close()
		k.Close()
		for name, b := range map[string][]byte{
			"receiver PRK": recv.prk, "sender PRK": k.prk,
			"inbound SA key": in.key, "outbound SA key": out.key,
		} {
			if !isZero(b) {
				t.Errorf("%s: %s not zeroed by Close: % x", mode, name, b)
			}
		}
		if mode == ModeAuth && (!isZero(in.mac.inner) || !isZero(out.mac.outer)) {
			t.Errorf("%s: HMAC states not zeroed by Close", mode)
		}
		if mode == ModeConf && (!isZero(in.salt[:]) || out.aead != nil) {
			t.Errorf("%s: AES-GCM salt or cipher not dropped by Close", mode)
		}
		if _, err := s.Seal(make([]byte, 200)); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: Seal after Close = %v, want %v", mode, err, ErrClosed)
		}
		if _, err := k.NewSender(host1); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: NewSender after Close = %v, want %v", mode, err, ErrClosed)
		}
		k.Close() // idempotent
	}
}

func TestSADAddRules(t *testing.T) {
	d := NewSAD(Config{})
	k := newTestKey(t, vnetA, ModeConf, psk1)
	if err := d.Add(k); err != nil {
		t.Fatalf("Add = %v", err)
	}
	if err := d.Add(k); err == nil {
		t.Errorf("Add(same key twice) = nil, want an error")
	}
	if err := d.Add(newTestKey(t, vnetA, ModeAuth, psk2)); err == nil {
		t.Errorf("Add(second key of vnet A) = nil, want an error")
	}
	if err := NewSAD(Config{}).Add(k); err == nil {
		t.Errorf("Add(key of another SAD) = nil, want an error")
	}
	closed := newTestKey(t, vnetB, ModeConf, psk1)
	closed.Close()
	if err := d.Add(closed); !errors.Is(err, ErrClosed) {
		t.Errorf("Add(closed key) = %v, want %v", err, ErrClosed)
	}
	d.Remove(k)
	if err := d.Add(newTestKey(t, vnetA, ModeAuth, psk2)); err != nil {
		t.Errorf("Add(new key of vnet A after Remove) = %v", err)
	}
}

func TestAppendESPSA(t *testing.T) {
	recv := newTestKey(t, vnetA, ModeConf, psk1)
	d, o := newTestSAD(t, Config{}, recv)
	remote := newTestSender(t, newTestKey(t, vnetA, ModeConf, psk1), host2)
	if res := open(o, sealed(t, remote, 60, 0)); res.Reason != ReasonNone {
		t.Fatalf("Open = %v", res.Reason)
	}
	local := newTestSender(t, recv, host1)

	lines := strings.Split(strings.TrimSuffix(string(AppendESPSA(nil, recv, d)), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("AppendESPSA = %q, want 2 lines", lines)
	}
	for i, s := range []*Sender{local, remote} {
		want := `"IPv4","` + []string{"198.18.0.1", "198.18.0.2"}[i] + `","*","0x` +
			strings.ToLower(hexUint32(s.SPI())) + `","AES-GCM with 16 octet ICV [RFC4106]","0x` +
			hexBytes(s.sa.key) + `","NULL",""`
		if lines[i] != want {
			t.Errorf("AppendESPSA line %d = %s, want %s", i, lines[i], want)
		}
		if got := len(s.sa.key); got != 16+4 {
			t.Errorf("SA key of a 16-byte PSK is %d bytes, want 20 (AES-128 key and salt)", got)
		}
	}

	auth := newTestKey(t, vnetB, ModeAuth, psk3)
	sa := newTestSender(t, auth, host3)
	want := `"IPv4","198.18.0.3","*","0x` + hexUint32(sa.SPI()) + `","NULL","","HMAC-SHA-256-128 [RFC4868]","0x` + hexBytes(sa.sa.key) + "\"\n"
	if got := string(AppendESPSA(nil, auth, nil)); got != want {
		t.Errorf("AppendESPSA(auth) = %s, want %s", got, want)
	}
	sa.Close()
	if got := AppendESPSA(nil, auth, nil); len(got) != 0 {
		t.Errorf("AppendESPSA after the only Sender closed = %q, want nothing", got)
	}
}

func TestParsePSK(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"000102030405060708090a0b0c0d0e0f", psk1, true},
		{"000102030405060708090A0B0C0D0E0F", psk1, true},
		{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", psk3, true},
		{"", nil, false},
		{"0001020304050607", nil, false},
		{"000102030405060708090a0b0c0d0e0f1", nil, false},
		{"000102030405060708090a0b0c0d0e0g", nil, false},
	}
	for _, tt := range tests {
		got, err := ParsePSK(tt.in)
		if (err == nil) != tt.ok || !bytes.Equal(got, tt.want) {
			t.Errorf("ParsePSK(%q) = %x, %v, want %x, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalidKey) || (len(tt.in) > 4 && strings.Contains(err.Error(), tt.in[:len(tt.in)-2]))) {
			t.Errorf("ParsePSK(%q) error %q must wrap ErrInvalidKey and not quote the key", tt.in, err)
		}
	}
}

func TestNewKeyRejectsBadInput(t *testing.T) {
	if _, err := NewKey(vnetA, ModeConf, psk1[:15]); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("NewKey(15-byte PSK) = %v, want %v", err, ErrInvalidKey)
	}
	if _, err := NewKey(vnetA, Mode(0), psk1); err == nil {
		t.Errorf("NewKey(mode 0) = nil, want an error")
	}
	if _, err := NewKey(vnetA, Mode(3), psk1); err == nil {
		t.Errorf("NewKey(mode 3) = nil, want an error")
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func hexUint32(v uint32) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b)
}

func hexBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteString(hexUint32(uint32(c))[6:])
	}
	return sb.String()
}
