package pmd

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// redirectAll loads an XDP program that steers every frame to the
// socket of its receive queue in an XSKMAP.
func redirectAll(t *testing.T) (*ebpf.Program, *ebpf.Map) {
	t.Helper()
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	if err != nil {
		t.Fatalf("create XSKMAP: %v", err)
	}
	t.Cleanup(func() { xsks.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, 16, asm.Word), // ctx->rx_queue_index
			asm.LoadMapPtr(asm.R1, xsks.FD()),
			asm.Mov.Imm(asm.R3, 2), // XDP_PASS when the slot is empty
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("load XDP program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog, xsks
}

// reflect sends every frame back out of the port it came in on, with the
// Ethernet addresses swapped, or out of port to when set.
type reflect struct {
	to    PortID
	cross bool
}

func (r *reflect) Process(w *Worker, in PortID, frames []Desc) {
	for _, d := range frames {
		f := w.Umem().Frame(d)
		var tmp [6]byte
		copy(tmp[:], f[0:6])
		copy(f[0:6], f[6:12])
		copy(f[6:12], tmp[:])
		out := in
		if r.cross {
			out = r.to
		}
		w.Transmit(out, d)
	}
}

func (r *reflect) Tick(*Worker, time.Time) {}

const testEtherType = 0x88b5 // IEEE local experimental

// sendAndCount sends n frames from dev in the current namespace to dst
// and counts frames of testEtherType that come back within the timeout.
func sendAndCount(t *testing.T, dev string, dst net.HardwareAddr, n int, size int, recvDev string) int {
	t.Helper()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	rifi, err := net.InterfaceByName(recvDev)
	if err != nil {
		t.Fatal(err)
	}
	proto := int(htons(testEtherType))
	rfd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if err := unix.Bind(rfd, &unix.SockaddrLinklayer{Protocol: htons(testEtherType), Ifindex: rifi.Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		t.Fatal(err)
	}
	counted := make(chan int)
	go func() {
		got := 0
		buf := make([]byte, 4096)
		deadline := time.Now().Add(3 * time.Second)
		for got < n && time.Now().Before(deadline) {
			m, from, err := unix.Recvfrom(rfd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if m == size {
				got++
			}
		}
		counted <- got
	}()
	sfd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sfd)
	frame := make([]byte, size)
	copy(frame[0:6], dst)
	copy(frame[6:12], ifi.HardwareAddr)
	binary.BigEndian.PutUint16(frame[12:], testEtherType)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], dst)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(frame[14:], uint32(i))
		if err := unix.Sendto(sfd, frame, 0, to); err != nil {
			t.Fatalf("send frame %d: %v", i, err)
		}
		if i%32 == 31 {
			time.Sleep(time.Millisecond)
		}
	}
	return <-counted
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func TestSocketReflectVeth(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.Prefix()
	a := nstest.New(t, p+"a")
	b := nstest.New(t, p+"b")
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "va", MAC: "02:00:00:00:00:01"},
		nstest.VethConfig{Netns: b, Name: "vb", MAC: "02:00:00:00:00:02"})

	var w *Worker
	a.Do(t, func() {
		prog, xsks := redirectAll(t)
		ifi, err := net.InterfaceByName("va")
		if err != nil {
			t.Fatal(err)
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		if err != nil {
			t.Fatalf("attach XDP: %v", err)
		}
		t.Cleanup(func() { l.Close() })
		u, err := NewUmem(UmemConfig{Frames: 4096, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(u, SocketConfig{Ifindex: ifi.Index, Queue: 0, Rings: RingConfig{Fill: 1024, Completion: 1024, Rx: 1024, Tx: 1024}, Mode: BindAuto})
		if err != nil {
			t.Fatal(err)
		}
		if s.ZeroCopy() {
			t.Errorf("veth socket bound in zero-copy mode, want copy")
		}
		w, err = NewWorker(WorkerConfig{CPU: -1}, u, &reflect{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddPort(s, PortConfig{Name: "va"}); err != nil {
			t.Fatal(err)
		}
		if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
			t.Fatalf("put socket in XSKMAP: %v", err)
		}
	})
	t.Cleanup(func() { w.Close() })
	done := make(chan error, 1)
	go func() { done <- w.Run() }()

	var got int
	b.Do(t, func() {
		dst, _ := net.ParseMAC("02:00:00:00:00:01")
		got = sendAndCount(t, "vb", dst, 500, 60, "vb")
	})
	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got != 500 {
		t.Errorf("reflected %d of 500 frames", got)
	}
	port := w.Ports()[0]
	// The kernel's own IPv6 neighbour discovery frames arrive too.
	if rx := port.Stats.RxFrames.Load(); rx < 500 {
		t.Errorf("port counted %d received frames, want at least 500", rx)
	}
	if tx := port.Stats.TxFrames.Load(); tx < 500 {
		t.Errorf("port counted %d transmitted frames, want at least 500", tx)
	}
}

// TestSharedUmemForwardVeth forwards frames from one veth to another
// through two sockets that share a UMEM, passing descriptors only.
func TestSharedUmemForwardVeth(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.Prefix()
	a := nstest.New(t, p+"a")
	b := nstest.New(t, p+"b")
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "va", MAC: "02:00:00:00:00:01"},
		nstest.VethConfig{Netns: b, Name: "vb", MAC: "02:00:00:00:00:02"})
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "vc", MAC: "02:00:00:00:01:01"},
		nstest.VethConfig{Netns: b, Name: "vd", MAC: "02:00:00:00:01:02"})

	var w *Worker
	h := &reflect{cross: true}
	a.Do(t, func() {
		prog, xsks := redirectAll(t)
		u, err := NewUmem(UmemConfig{Frames: 4096, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		w, err = NewWorker(WorkerConfig{CPU: -1}, u, h)
		if err != nil {
			t.Fatal(err)
		}
		var ports []*Port
		for i, dev := range []string{"va", "vc"} {
			ifi, err := net.InterfaceByName(dev)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(u, SocketConfig{Ifindex: ifi.Index, Rings: RingConfig{Fill: 1024, Completion: 1024, Rx: 1024, Tx: 1024}})
			if err != nil {
				t.Fatalf("open socket %d on %s: %v", i, dev, err)
			}
			port, err := w.AddPort(s, PortConfig{Name: dev, FillTarget: 512})
			if err != nil {
				t.Fatal(err)
			}
			ports = append(ports, port)
			if dev == "va" {
				l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
				if err != nil {
					t.Fatalf("attach XDP: %v", err)
				}
				t.Cleanup(func() { l.Close() })
				if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
					t.Fatal(err)
				}
			}
		}
		h.to = ports[1].ID()
	})
	t.Cleanup(func() { w.Close() })
	done := make(chan error, 1)
	go func() { done <- w.Run() }()

	var got int
	b.Do(t, func() {
		dst, _ := net.ParseMAC("02:00:00:00:00:01")
		got = sendAndCount(t, "vb", dst, 300, 1514, "vd")
	})
	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got != 300 {
		t.Errorf("forwarded %d of 300 frames from va to vc", got)
	}
	free, held, kernRx, kernTx := w.Umem().Count()
	if held != 0 || free+kernRx+kernTx != 4096 {
		t.Errorf("frame places free %d held %d rx %d tx %d, want held 0 and a total of 4096", free, held, kernRx, kernTx)
	}
}
