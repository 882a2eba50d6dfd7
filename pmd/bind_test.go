package pmd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// scriptedBinder plays the kernel for negotiateBind: each bind takes the
// next error of binds, and the self-test returns selfTest.
type scriptedBinder struct {
	binds     []error
	opts      uint32
	selfTest  selfTestResult
	reopenErr error
	calls     []string
}

func flagsName(flags uint16) string {
	switch flags {
	case flagsZeroCopy:
		return "bind zerocopy"
	case flagsCopy:
		return "bind copy"
	case unix.XDP_SHARED_UMEM:
		return "bind shared"
	}
	return "bind other"
}

func (b *scriptedBinder) bind(flags uint16) error {
	b.calls = append(b.calls, flagsName(flags))
	if len(b.binds) == 0 {
		return nil
	}
	err := b.binds[0]
	b.binds = b.binds[1:]
	return err
}

func (b *scriptedBinder) options() (uint32, error) {
	b.calls = append(b.calls, "options")
	return b.opts, nil
}

func (b *scriptedBinder) txSelfTest() (selfTestResult, string) {
	b.calls = append(b.calls, "self-test")
	return b.selfTest, "no completion within 250ms"
}

func (b *scriptedBinder) reopen() error {
	b.calls = append(b.calls, "reopen")
	return b.reopenErr
}

func TestNegotiateBind(t *testing.T) {
	tests := []struct {
		name     string
		mode     BindMode
		owner    bool
		b        scriptedBinder
		zeroCopy bool
		note     string // a substring of the note; "" means none
		err      error
		calls    []string
	}{
		{
			name: "copy", mode: BindCopy, owner: true,
			calls: []string{"bind copy"},
		},
		{
			name: "zerocopy forced", mode: BindZeroCopy, owner: true,
			zeroCopy: true,
			calls:    []string{"bind zerocopy"},
		},
		{
			name: "zerocopy forced without driver support", mode: BindZeroCopy, owner: true,
			b:     scriptedBinder{binds: []error{unix.EOPNOTSUPP}},
			err:   unix.EOPNOTSUPP,
			calls: []string{"bind zerocopy"},
		},
		{
			name: "auto, self-test passes", mode: BindAuto, owner: true,
			b:        scriptedBinder{selfTest: selfTestPassed},
			zeroCopy: true,
			calls:    []string{"bind zerocopy", "self-test"},
		},
		{
			name: "auto without driver support", mode: BindAuto, owner: true,
			b:     scriptedBinder{binds: []error{unix.EOPNOTSUPP}},
			note:  "no zero-copy support",
			calls: []string{"bind zerocopy", "bind copy"},
		},
		{
			name: "auto, zero-copy bind succeeds but cannot transmit", mode: BindAuto, owner: true,
			b:     scriptedBinder{selfTest: selfTestFailed},
			note:  "self-test failed: no completion",
			calls: []string{"bind zerocopy", "self-test", "reopen", "bind copy"},
		},
		{
			name: "auto, self-test inconclusive keeps zero-copy", mode: BindAuto, owner: true,
			b:        scriptedBinder{selfTest: selfTestInconclusive},
			zeroCopy: true,
			note:     "inconclusive",
			calls:    []string{"bind zerocopy", "self-test"},
		},
		{
			name: "auto, reopen fails", mode: BindAuto, owner: true,
			b:     scriptedBinder{selfTest: selfTestFailed, reopenErr: unix.EMFILE},
			err:   unix.EMFILE,
			calls: []string{"bind zerocopy", "self-test", "reopen"},
		},
		{
			name: "auto, copy bind after the self-test fails", mode: BindAuto, owner: true,
			b:     scriptedBinder{binds: []error{nil, unix.EBUSY}, selfTest: selfTestFailed},
			err:   unix.EBUSY,
			calls: []string{"bind zerocopy", "self-test", "reopen", "bind copy"},
		},
		{
			name: "auto, queue busy", mode: BindAuto, owner: true,
			b:     scriptedBinder{binds: []error{unix.EBUSY}},
			err:   unix.EBUSY,
			calls: []string{"bind zerocopy"},
		},
		{
			name: "sharer inherits copy", mode: BindAuto, owner: false,
			calls: []string{"bind shared", "options"},
		},
		{
			name: "sharer inherits zero-copy", mode: BindCopy, owner: false,
			b:        scriptedBinder{opts: unix.XDP_OPTIONS_ZEROCOPY},
			zeroCopy: true,
			calls:    []string{"bind shared", "options"},
		},
		{
			name: "sharer runs no self-test", mode: BindAuto, owner: false,
			b:     scriptedBinder{opts: unix.XDP_OPTIONS_ZEROCOPY, selfTest: selfTestFailed},
			calls: []string{"bind shared", "options"}, zeroCopy: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			zc, note, err := negotiateBind(&b, tt.mode, tt.owner)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Errorf("negotiateBind error = %v, want %v", err, tt.err)
				}
			} else if err != nil {
				t.Errorf("negotiateBind error = %v, want nil", err)
			}
			if zc != tt.zeroCopy {
				t.Errorf("negotiateBind zero-copy = %v, want %v", zc, tt.zeroCopy)
			}
			if tt.note == "" && note != "" {
				t.Errorf("negotiateBind note = %q, want none", note)
			}
			if tt.note != "" && !strings.Contains(note, tt.note) {
				t.Errorf("negotiateBind note = %q, want it to contain %q", note, tt.note)
			}
			if !slices.Equal(b.calls, tt.calls) {
				t.Errorf("negotiateBind calls = %q, want %q", b.calls, tt.calls)
			}
		})
	}
}

func TestCheckFrameFits(t *testing.T) {
	tests := []struct {
		frameSize uint32
		mtu       int
		tailroom  uint32
		ok        bool
	}{
		{2048, 1500, 0, true},
		{2048, 1774, 0, true},  // 1774 + 18 = 1792 = 2048 - 256
		{2048, 1775, 0, false}, // one byte more
		{2048, 1500, 274, true},
		{2048, 1500, 275, false},
		{4096, 3822, 0, true},
		{4096, 9000, 0, false},
		{4096, 1500, 2000, true},
		{2048, 1500, 1792, false}, // no room at all
		{2048, 1500, 5000, false},
	}
	for _, tt := range tests {
		err := CheckFrameFits(tt.frameSize, tt.mtu, tt.tailroom)
		if (err == nil) != tt.ok {
			t.Errorf("CheckFrameFits(%d, MTU %d, tailroom %d) = %v, want ok %v", tt.frameSize, tt.mtu, tt.tailroom, err, tt.ok)
		}
		if err != nil && tt.tailroom < tt.frameSize-FrameHeadroom && !strings.Contains(err.Error(), "MTU") {
			t.Errorf("CheckFrameFits(%d, MTU %d, tailroom %d) error %q does not name the MTU", tt.frameSize, tt.mtu, tt.tailroom, err)
		}
	}
}

func TestRingConfigValidate(t *testing.T) {
	u := UmemConfig{Frames: 4096, FrameSize: 2048}
	tests := []struct {
		name  string
		rings RingConfig
		bad   string // a substring of the error; "" means valid
	}{
		{"valid", RingConfig{Fill: 1024, Completion: 1024, Rx: 1024, Tx: 1024}, ""},
		{"fill not a power of two", RingConfig{Fill: 1000, Completion: 1024, Rx: 1024, Tx: 1024}, "fill ring size 1000"},
		{"rx too small", RingConfig{Fill: 1024, Completion: 1024, Rx: 32, Tx: 1024}, "rx ring size 32"},
		{"completion smaller than tx", RingConfig{Fill: 1024, Completion: 512, Rx: 1024, Tx: 1024}, "completion ring size 512"},
		{"UMEM too small", RingConfig{Fill: 4096, Completion: 1024, Rx: 1024, Tx: 1024}, "UMEM of 4096 frames"},
	}
	for _, tt := range tests {
		err := tt.rings.Validate(u)
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("%s: Validate(%+v) = %v, want nil", tt.name, tt.rings, err)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("%s: Validate(%+v) = %v, want an error containing %q", tt.name, tt.rings, err, tt.bad)
		}
	}
}

func TestUmemConfigValidate(t *testing.T) {
	tests := []struct {
		cfg UmemConfig
		ok  bool
	}{
		{UmemConfig{Frames: 4096, FrameSize: 2048}, true},
		{UmemConfig{Frames: 64, FrameSize: 4096}, true},
		{UmemConfig{Frames: 4096, FrameSize: 3000}, false},
		{UmemConfig{Frames: 4096, FrameSize: 1024}, false},
		{UmemConfig{Frames: 100, FrameSize: 2048}, false},
		{UmemConfig{Frames: 32, FrameSize: 2048}, false},
		{UmemConfig{Frames: 1 << 23, FrameSize: 2048}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tt.cfg, err, tt.ok)
		}
	}
}

func TestParseBindMode(t *testing.T) {
	for _, m := range []BindMode{BindAuto, BindCopy, BindZeroCopy} {
		got, err := ParseBindMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseBindMode(%q) = %v, %v, want %v", m.String(), got, err, m)
		}
	}
	if _, err := ParseBindMode("fast"); err == nil {
		t.Errorf("ParseBindMode(%q) = nil error, want an error", "fast")
	}
}

func TestSocketString(t *testing.T) {
	tests := []struct {
		s    *Socket
		want string
	}{
		{&Socket{where: "eth1 queue 0", zerocopy: true}, "eth1 queue 0 (zerocopy)"},
		{&Socket{where: "va queue 1", bindNote: "the driver has no zero-copy support"}, "va queue 1 (copy: the driver has no zero-copy support)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	s := Socket{zerocopy: true}
	if s.Mode() != BindZeroCopy {
		t.Errorf("Mode() of a zero-copy socket = %v, want zerocopy", s.Mode())
	}
	s.zerocopy = false
	if s.Mode() != BindCopy {
		t.Errorf("Mode() of a copy socket = %v, want copy", s.Mode())
	}
}

func TestSelfTestFrame(t *testing.T) {
	f := make([]byte, selfTestFrameLen)
	for i := range f {
		f[i] = 0xff
	}
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	buildSelfTestFrame(f, mac)
	if got := [6]byte(f[0:6]); got != mac {
		t.Errorf("destination = %x, want %x", got, mac)
	}
	if got := [6]byte(f[6:12]); got != mac {
		t.Errorf("source = %x, want %x", got, mac)
	}
	if got := uint16(f[12])<<8 | uint16(f[13]); got != 0x88b5 {
		t.Errorf("EtherType = %#04x, want 0x88b5", got)
	}
	if got := string(f[14 : 14+len(selfTestPayload)]); got != selfTestPayload {
		t.Errorf("payload = %q, want %q", got, selfTestPayload)
	}
	for i := 14 + len(selfTestPayload); i < len(f); i++ {
		if f[i] != 0 {
			t.Fatalf("padding byte %d = %#x, want 0", i, f[i])
		}
	}
}
