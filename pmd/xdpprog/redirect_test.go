package xdpprog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sendFrames sends raw Ethernet frames out of interface ifindex with an
// AF_PACKET socket of the calling thread's namespace.
func sendFrames(t *testing.T, ifindex int, frames ...[]byte) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_PACKET): %v", err)
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	copy(sa.Addr[:], testDstMAC[:])
	for _, f := range frames {
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			t.Fatalf("send %d-byte frame on ifindex %d: %v", len(f), ifindex, err)
		}
	}
}

func TestRedirectToAFXDPSocket(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, xb := ns.addVeth(t, "xa", "xb", 1)
	const base = 3

	vnetFrame := udpFrame(vnetPort, vnetPort, []byte("vnet"))
	otherFrame := udpFrame(vnetPort, 9000, nil)
	arp := arpFrame()

	ns.run(t, func() {
		a, err := p.Attach(xa, ModeNative)
		if err != nil {
			t.Fatalf("Attach(xa, native): %v", err)
		}
		defer a.Close()
		x := openTestXSK(t, xa, 0)
		if err := p.SetSocket(base, x.fd); err != nil {
			t.Fatalf("SetSocket(%d, %d): %v", base, x.fd, err)
		}
		underlay := Port{Kind: KindUnderlay, Base: base, Queues: 1, UDPPort: vnetPort}
		if err := p.SetPort(xa, underlay); err != nil {
			t.Fatalf("SetPort(xa, %+v): %v", underlay, err)
		}

		// Underlay: only the vnet frame reaches the socket.
		before, err := p.Counters()
		if err != nil {
			t.Fatalf("Counters: %v", err)
		}
		sendFrames(t, xb, arp, otherFrame, vnetFrame)
		got := x.receive(t, time.Second, 10)
		if len(got) != 1 {
			t.Fatalf("underlay: socket received %d frames (%x), want 1", len(got), got)
		}
		if !bytes.Equal(got[0], vnetFrame) {
			t.Errorf("underlay: socket received %x, want %x", got[0], vnetFrame)
		}
		var sums [counterCount]uint64
		sums[counterSteered] = 1
		sums[counterPassed] = 2
		sums[counterNotIPv4] = 1
		sums[counterNotVnet] = 1
		if delta, want := countersSince(t, p, before), countersFromSums(sums); delta != want {
			t.Errorf("underlay: counted %+v, want %+v", delta, want)
		}

		// Device: every frame reaches the socket.
		device := Port{Kind: KindDevice, Base: base, Queues: 1}
		if err := p.SetPort(xa, device); err != nil {
			t.Fatalf("SetPort(xa, %+v): %v", device, err)
		}
		sendFrames(t, xb, arp)
		got = x.receive(t, time.Second, 10)
		if len(got) != 1 || !bytes.Equal(got[0], arp) {
			t.Errorf("device: socket received %x, want one frame %x", got, arp)
		}
	})
}

func TestRedirectSlotIsBasePlusQueue(t *testing.T) {
	p := loadForTest(t, Options{})
	ns := newTestNetns(t)
	xa, _ := ns.addVeth(t, "xa", "xb", 2)
	frame := udpFrame(vnetPort, vnetPort, nil)

	ns.run(t, func() {
		x := openTestXSK(t, xa, 1)
		const slot = 5
		if err := p.SetSocket(slot, x.fd); err != nil {
			t.Fatalf("SetSocket(%d, %d): %v", slot, x.fd, err)
		}

		// BPF_PROG_RUN returns XDP_REDIRECT when the slot holds a socket
		// and performs no redirect.
		tests := []struct {
			base  uint32
			queue uint32
			want  uint32
		}{
			{base: 4, queue: 1, want: xdpRedirect},
			{base: 5, queue: 0, want: xdpRedirect},
			{base: 3, queue: 1, want: xdpPass},
			{base: 5, queue: 1, want: xdpPass},
		}
		for _, tc := range tests {
			port := Port{Kind: KindDevice, Base: tc.base, Queues: 2}
			if err := p.SetPort(xa, port); err != nil {
				t.Fatalf("SetPort(xa, %+v): %v", port, err)
			}
			ret, err := runFrame(p, frame, uint32(xa), tc.queue)
			if err != nil {
				t.Fatalf("run on queue %d: %v", tc.queue, err)
			}
			if ret != tc.want {
				t.Errorf("base %d queue %d with a socket in slot %d: run = %d, want %d", tc.base, tc.queue, slot, ret, tc.want)
			}
		}

		if err := p.DeleteSocket(slot); err != nil {
			t.Fatalf("DeleteSocket(%d): %v", slot, err)
		}
		if err := p.DeleteSocket(slot); err != nil {
			t.Errorf("DeleteSocket(%d) of an empty slot: %v, want nil", slot, err)
		}
		if err := p.SetPort(xa, Port{Kind: KindDevice, Base: 4, Queues: 2}); err != nil {
			t.Fatalf("SetPort: %v", err)
		}
		if ret, err := runFrame(p, frame, uint32(xa), 1); err != nil || ret != xdpPass {
			t.Errorf("run after DeleteSocket(%d) = %d, %v; want XDP_PASS (%d)", slot, ret, err, xdpPass)
		}
	})
}

func TestSetSocketErrors(t *testing.T) {
	p := loadForTest(t, Options{MaxSockets: 8})

	if err := p.SetSocket(8, 0); err == nil {
		t.Errorf("SetSocket(8, 0) with 8 slots: nil error, want slot out of range")
	}
	if err := p.SetSocket(0, -1); err == nil {
		t.Errorf("SetSocket(0, -1): nil error, want invalid fd")
	}
	if err := p.DeleteSocket(8); err == nil {
		t.Errorf("DeleteSocket(8) with 8 slots: nil error, want slot out of range")
	}

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_INET): %v", err)
	}
	defer unix.Close(fd)
	err = p.SetSocket(0, fd)
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("SetSocket(0, UDP socket) = %v, want EOPNOTSUPP", err)
	}
	if err != nil && !strings.Contains(err.Error(), "not an AF_XDP socket") {
		t.Errorf("SetSocket(0, UDP socket) = %q, want the hint %q", err, "not an AF_XDP socket")
	}
}
