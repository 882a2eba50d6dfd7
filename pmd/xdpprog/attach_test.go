package xdpprog

import (
	"strings"
	"testing"
)

// ipLinkXDPMode returns the XDP mode `ip link show` reports for an
// interface: "xdp" (native), "xdpgeneric" or "" when none is attached.
func ipLinkXDPMode(t *testing.T, ns *testNetns, name string) string {
	t.Helper()
	fields := strings.Fields(ns.ip(t, "link", "show", "dev", name))
	for _, f := range fields {
		switch f {
		case "xdp", "xdpgeneric", "xdpdrv", "xdpoffload", "xdpmulti":
			return f
		}
	}
	return ""
}

func TestAttachModeString(t *testing.T) {
	tests := []struct {
		mode AttachMode
		want string
	}{
		{ModeAuto, "auto"},
		{ModeNative, "native"},
		{ModeGeneric, "generic"},
		{AttachMode(7), "mode(7)"},
	}
	for _, tc := range tests {
		if got := tc.mode.String(); got != tc.want {
			t.Errorf("AttachMode(%d).String() = %q, want %q", int(tc.mode), got, tc.want)
		}
	}
}

func TestAttachModes(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 1)

	tests := []struct {
		mode   AttachMode
		want   AttachMode
		ipLink string
	}{
		{mode: ModeNative, want: ModeNative, ipLink: "xdp"},
		{mode: ModeGeneric, want: ModeGeneric, ipLink: "xdpgeneric"},
		// veth supports native XDP, so the kernel chooses it.
		{mode: ModeAuto, want: ModeNative, ipLink: "xdp"},
	}
	ns.run(t, func() {
		for _, tc := range tests {
			a, err := p.Attach(xa, tc.mode)
			if err != nil {
				t.Fatalf("Attach(xa, %s): %v", tc.mode, err)
			}
			if got := a.Mode(); got != tc.want {
				t.Errorf("Attach(xa, %s).Mode() = %s, want %s", tc.mode, got, tc.want)
			}
			if got := ipLinkXDPMode(t, ns, "xa"); got != tc.ipLink {
				t.Errorf("after Attach(xa, %s): ip link shows %q, want %q", tc.mode, got, tc.ipLink)
			}
			if got := a.Ifindex(); got != xa {
				t.Errorf("Attach(xa, %s).Ifindex() = %d, want %d", tc.mode, got, xa)
			}

			if err := a.Close(); err != nil {
				t.Errorf("Close after Attach(xa, %s): %v", tc.mode, err)
			}
			if got := ipLinkXDPMode(t, ns, "xa"); got != "" {
				t.Errorf("after Close: ip link shows %q, want no XDP program", got)
			}
			if err := a.Close(); err != nil {
				t.Errorf("second Close after Attach(xa, %s): %v, want nil", tc.mode, err)
			}
		}
	})
}

func TestAttachTwiceErrors(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 1)
	const hint = "(another XDP program is attached to xa; detach it with `ip link set dev xa xdp off`)"

	ns.run(t, func() {
		for _, first := range []AttachMode{ModeNative, ModeGeneric} {
			a, err := p.Attach(xa, first)
			if err != nil {
				t.Fatalf("Attach(xa, %s): %v", first, err)
			}
			for _, second := range []AttachMode{ModeAuto, ModeNative, ModeGeneric} {
				b, err := p.Attach(xa, second)
				if err == nil {
					b.Close()
					t.Errorf("Attach(xa, %s) while attached %s: nil error, want one", second, first)
					continue
				}
				if !strings.Contains(err.Error(), hint) {
					t.Errorf("Attach(xa, %s) while attached %s: %q, want it to contain %q", second, first, err, hint)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})
}

func TestAttachInvalid(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 1)

	ns.run(t, func() {
		if a, err := p.Attach(xa, AttachMode(9)); err == nil {
			a.Close()
			t.Errorf("Attach(xa, AttachMode(9)): nil error, want invalid mode")
		}
		if a, err := p.Attach(999, ModeAuto); err == nil {
			a.Close()
			t.Errorf("Attach(999, auto) on a missing interface: nil error, want one")
		}
	})
}

func TestAttachVethPeerMTU(t *testing.T) {
	plain := loadForTest(t, Options{})
	frags := loadForTest(t, Options{Frags: true})
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 1)
	ns.ip(t, "link", "set", "xb", "mtu", "9000")

	ns.run(t, func() {
		a, err := plain.Attach(xa, ModeNative)
		if err == nil {
			a.Close()
			t.Fatalf("Attach(xa, native) without Frags, peer MTU 9000: nil error, want ERANGE")
		}
		for _, want := range []string{"veth peer of xa", "3506", "Options.Frags"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Attach(xa, native) without Frags: %q, want it to contain %q", err, want)
			}
		}

		a, err = frags.Attach(xa, ModeNative)
		if err != nil {
			t.Fatalf("Attach(xa, native) with Frags, peer MTU 9000: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}

		// Generic mode has no MTU limit.
		a, err = plain.Attach(xa, ModeGeneric)
		if err != nil {
			t.Fatalf("Attach(xa, generic) without Frags, peer MTU 9000: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestProgramCloseDetaches(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, xb := ns.addVeth(t, "xa", "xb", 1)

	ns.run(t, func() {
		a, err := p.Attach(xa, ModeNative)
		if err != nil {
			t.Fatalf("Attach(xa, native): %v", err)
		}
		b, err := p.Attach(xb, ModeGeneric)
		if err != nil {
			t.Fatalf("Attach(xb, generic): %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Program.Close: %v", err)
		}
		for _, name := range []string{"xa", "xb"} {
			if got := ipLinkXDPMode(t, ns, name); got != "" {
				t.Errorf("after Program.Close: ip link shows %q on %s, want no XDP program", got, name)
			}
		}
		if err := a.Close(); err != nil {
			t.Errorf("Attachment.Close after Program.Close: %v, want nil", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Attachment.Close after Program.Close: %v, want nil", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Program.Close: %v, want nil", err)
		}
		if _, err := p.Attach(xa, ModeNative); err == nil {
			t.Errorf("Attach after Close: nil error, want ErrClosed")
		}
		if err := p.SetPort(xa, Port{Kind: KindDevice, Queues: 1}); err == nil {
			t.Errorf("SetPort after Close: nil error, want ErrClosed")
		}
		if _, err := p.Counters(); err == nil {
			t.Errorf("Counters after Close: nil error, want ErrClosed")
		}
	})
}

func TestLoadAttachCloseNoFDLeak(t *testing.T) {
	requireNetAdmin(t)
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 1)

	cycle := func() {
		p := loadOrSkip(t, Options{})
		if err := p.SetPort(xa, Port{Kind: KindDevice, Queues: 1}); err != nil {
			t.Fatalf("SetPort: %v", err)
		}
		ns.run(t, func() {
			for _, mode := range []AttachMode{ModeNative, ModeGeneric} {
				a, err := p.Attach(xa, mode)
				if err != nil {
					t.Fatalf("Attach(xa, %s): %v", mode, err)
				}
				if err := a.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			// Left for Program.Close to detach.
			if _, err := p.Attach(xa, ModeNative); err != nil {
				t.Fatalf("Attach(xa, native): %v", err)
			}
		})
		if _, err := p.Counters(); err != nil {
			t.Fatalf("Counters: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	cycle() // the first cycle may open descriptors the runtime keeps
	before := openFDs(t)
	for range 3 {
		cycle()
	}
	if after := openFDs(t); after != before {
		t.Errorf("open fds after 3 load/attach/close cycles = %d, want %d", after, before)
	}
}
