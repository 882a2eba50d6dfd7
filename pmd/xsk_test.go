package pmd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"go.uber.org/goleak"
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
		if got, want := s.String(), "va queue 0 (copy: the driver has no zero-copy support)"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
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

// vethPair builds namespaces a and b joined by va (02:00:00:00:00:01)
// and vb, with the given number of queues.
func vethPair(t *testing.T, queues int) (a, b *nstest.Netns) {
	t.Helper()
	p := nstest.Prefix()
	a = nstest.New(t, p+"a")
	b = nstest.New(t, p+"b")
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "va", MAC: "02:00:00:00:00:01", Queues: queues},
		nstest.VethConfig{Netns: b, Name: "vb", MAC: "02:00:00:00:00:02", Queues: queues})
	return a, b
}

func TestOpenChecksMTU(t *testing.T) {
	nstest.RequireRoot(t)
	a, _ := vethPair(t, 0)
	tests := []struct {
		mtu      int
		tailroom uint32
		ok       bool
	}{
		{1500, 0, true},
		{1774, 0, true},
		{1775, 0, false},
		{1500, 274, true},
		{1500, 275, false},
		{9000, 0, false},
	}
	for _, tt := range tests {
		a.MustRun(t, "ip", "link", "set", "va", "mtu", strconv.Itoa(tt.mtu))
		a.Do(t, func() {
			ifi, err := net.InterfaceByName("va")
			if err != nil {
				t.Fatal(err)
			}
			u, err := NewUmem(UmemConfig{Frames: 256, FrameSize: 2048})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			s, err := Open(u, SocketConfig{Ifindex: ifi.Index, Rings: smallRings(), Mode: BindCopy, Tailroom: tt.tailroom})
			if (err == nil) != tt.ok {
				t.Errorf("Open(MTU %d, tailroom %d) = %v, want ok %v", tt.mtu, tt.tailroom, err, tt.ok)
			}
			if err != nil {
				if want := "MTU " + strconv.Itoa(tt.mtu); !strings.Contains(err.Error(), want) {
					t.Errorf("Open(MTU %d, tailroom %d) error %q does not contain %q", tt.mtu, tt.tailroom, err, want)
				}
				return
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestTxSelfTestVeth runs the transmit self-test on a copy-mode socket,
// the only mode veth has: it must pass with the link up, deliver its
// frame to the peer, and be inconclusive with the link down.
func TestTxSelfTestVeth(t *testing.T) {
	nstest.RequireRoot(t)
	a, b := vethPair(t, 0)

	// Capture on vb before the self-test sends.
	captured := make(chan []byte, 1)
	b.Do(t, func() {
		ifi, err := net.InterfaceByName("vb")
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(selfTestEtherType)))
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(selfTestEtherType), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		go func() {
			defer unix.Close(fd)
			buf := make([]byte, 2048)
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				captured <- nil
				return
			}
			captured <- buf[:n]
		}()
	})

	a.Do(t, func() {
		ifi, err := net.InterfaceByName("va")
		if err != nil {
			t.Fatal(err)
		}
		u, err := NewUmem(UmemConfig{Frames: 256, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		s, err := Open(u, SocketConfig{Ifindex: ifi.Index, Rings: smallRings(), Mode: BindCopy})
		if err != nil {
			t.Fatal(err)
		}
		if got, detail := s.txSelfTest(); got != selfTestPassed {
			t.Errorf("txSelfTest with the link up = %d (%s), want passed", got, detail)
		}
		a.MustRun(t, "ip", "link", "set", "va", "down")
		if got, detail := s.txSelfTest(); got != selfTestInconclusive {
			t.Errorf("txSelfTest with the link down = %d (%s), want inconclusive", got, detail)
		}
		if !s.selfTestPending {
			t.Errorf("frame of the inconclusive self-test not marked pending")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := u.FreeFrames(); got != 256 {
			t.Errorf("free frames after Close = %d, want 256", got)
		}
	})

	f := <-captured
	if len(f) < selfTestFrameLen {
		t.Fatalf("peer captured %d bytes of the self-test frame, want %d", len(f), selfTestFrameLen)
	}
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	if !bytes.Equal(f[0:6], mac) || !bytes.Equal(f[6:12], mac) {
		t.Errorf("self-test frame addresses %x -> %x, want %s -> %s", f[6:12], f[0:6], mac, mac)
	}
	if got := binary.BigEndian.Uint16(f[12:14]); got != selfTestEtherType {
		t.Errorf("self-test frame EtherType = %#04x, want %#04x", got, selfTestEtherType)
	}
}

// sendOne makes the running worker transmit a 60-byte frame on port to.
func sendOne(t *testing.T, w *Worker, to PortID) {
	t.Helper()
	err := w.Call(func(w *Worker) {
		addr, ok := w.Umem().Alloc()
		if !ok {
			return
		}
		f := w.Umem().Bytes(addr, 60)
		copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
		copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(f[12:], testEtherType)
		w.Transmit(to, Desc{Addr: addr, Len: 60})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 3 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLinkDownVeth(t *testing.T) {
	nstest.RequireRoot(t)
	a, _ := vethPair(t, 0)
	var w *Worker
	var p *Port
	a.Do(t, func() {
		ifi, err := net.InterfaceByName("va")
		if err != nil {
			t.Fatal(err)
		}
		u, err := NewUmem(UmemConfig{Frames: 256, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(u, SocketConfig{Ifindex: ifi.Index, Rings: smallRings()})
		if err != nil {
			t.Fatal(err)
		}
		w, err = NewWorker(WorkerConfig{CPU: -1}, u, drop{})
		if err != nil {
			t.Fatal(err)
		}
		if p, err = w.AddPort(s, PortConfig{Name: "va", FillTarget: 32}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { w.Close() })
	done := startWorker(t, w)

	sendOne(t, w, p.ID())
	waitFor(t, "frame sent with the link up", func() bool { return p.Stats.TxFrames.Load() == 1 })
	if p.LinkDown() {
		t.Errorf("LinkDown() = true with the link up")
	}
	a.MustRun(t, "ip", "link", "set", "va", "down")
	sendOne(t, w, p.ID())
	waitFor(t, "LinkDown() after va went down", p.LinkDown)
	a.MustRun(t, "ip", "link", "set", "va", "up")
	waitFor(t, "LinkDown() cleared after va came up", func() bool { return !p.LinkDown() })
	a.MustRun(t, "ip", "link", "del", "va")
	sendOne(t, w, p.ID())
	waitFor(t, "LinkDown() after va was deleted", p.LinkDown)

	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after the device was deleted = %v, want nil", err)
	}
}

// openFds returns the open file descriptors of the process with what
// they refer to.
func openFds(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds
}

// newFds returns the descriptors that are open now but were not in
// before. Helpers close their namespace handles on their own goroutines,
// so it waits up to a second for those to go.
func newFds(t *testing.T, before map[string]string) []string {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		var added []string
		for fd, target := range openFds(t) {
			if before[fd] != target {
				added = append(added, fd+" -> "+target)
			}
		}
		if len(added) == 0 || time.Now().After(deadline) {
			return added
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// socketMappings returns the number of mappings of sockets in the
// process: the rings of AF_XDP sockets.
func socketMappings(t *testing.T) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(maps, []byte("socket:["))
}

// isMapped reports whether addr lies in a mapping of the process.
func isMapped(t *testing.T, addr uint64) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return true
		}
	}
	return false
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWorkerLifecycleVeth opens four sockets on two 2-queue veth
// devices, forwards traffic, lets the worker idle, and closes it. It
// checks that the idle worker sleeps (measuring the CPU time of the
// whole process over 2 s), and that Close leaves no goroutine, file
// descriptor or mapping behind.
func TestWorkerLifecycleVeth(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.Prefix()
	a := nstest.New(t, p+"a")
	b := nstest.New(t, p+"b")
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "va", MAC: "02:00:00:00:00:01", Queues: 2},
		nstest.VethConfig{Netns: b, Name: "vb", MAC: "02:00:00:00:00:02", Queues: 2})
	nstest.Veth(t,
		nstest.VethConfig{Netns: a, Name: "vc", MAC: "02:00:00:00:01:01", Queues: 2},
		nstest.VethConfig{Netns: b, Name: "vd", MAC: "02:00:00:00:01:02", Queues: 2})

	// Programs and maps first: they are not part of the cycle.
	type device struct {
		ifindex int
		xsks    *ebpf.Map
	}
	var devs []device
	a.Do(t, func() {
		for _, name := range []string{"va", "vc"} {
			prog, xsks := redirectAll(t)
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				t.Fatal(err)
			}
			l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
			if err != nil {
				t.Fatalf("attach XDP to %s: %v", name, err)
			}
			t.Cleanup(func() { l.Close() })
			devs = append(devs, device{ifi.Index, xsks})
		}
	})
	goroutines := goleak.IgnoreCurrent()
	fds, mappings := openFds(t), socketMappings(t)

	var w *Worker
	var area uint64
	h := &reflect{cross: true}
	a.Do(t, func() {
		u, err := NewUmem(UmemConfig{Frames: 8192, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		area = areaAddress(u.area)
		w, err = NewWorker(WorkerConfig{CPU: -1}, u, h)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range devs {
			for q := 0; q < 2; q++ {
				s, err := Open(u, SocketConfig{Ifindex: d.ifindex, Queue: q, Rings: RingConfig{Fill: 1024, Completion: 1024, Rx: 1024, Tx: 1024}})
				if err != nil {
					t.Fatal(err)
				}
				port, err := w.AddPort(s, PortConfig{Name: s.String(), FillTarget: 512})
				if err != nil {
					t.Fatal(err)
				}
				if i == 1 && q == 0 {
					h.to = port.ID()
				}
				if err := d.xsks.Put(uint32(q), uint32(s.Fd())); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if got := len(w.Ports()); got != 4 {
		t.Fatalf("worker has %d ports, want 4", got)
	}
	done := startWorker(t, w)

	var got int
	b.Do(t, func() {
		dst, _ := net.ParseMAC("02:00:00:00:00:01")
		got = sendAndCount(t, "vb", dst, 200, 60, "vd")
	})
	if got != 200 {
		t.Errorf("forwarded %d of 200 frames from va to vc", got)
	}

	// Idle: the worker should sleep in poll(2) between ticks.
	time.Sleep(200 * time.Millisecond)
	sleeps := w.Stats.Sleeps.Load()
	cpu0, wall0 := cpuTime(t), time.Now()
	time.Sleep(2 * time.Second)
	cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
	share := float64(cpu) / float64(wall)
	t.Logf("idle worker with 4 ports: %v of CPU in %v (%.2f%% of a core), %d sleeps", cpu, wall.Round(time.Millisecond), 100*share, w.Stats.Sleeps.Load()-sleeps)
	if share > 0.05 {
		t.Errorf("idle process used %.1f%% of a core, want under 5%%", 100*share)
	}
	if w.Stats.Sleeps.Load() == sleeps {
		t.Errorf("idle worker never slept")
	}

	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if leaked := newFds(t, fds); len(leaked) > 0 {
		t.Errorf("file descriptors opened during the test and still open after Close: %v", leaked)
	}
	if got := socketMappings(t); got != mappings {
		t.Errorf("socket mappings after Close = %d, want %d as before", got, mappings)
	}
	if isMapped(t, area) {
		t.Errorf("UMEM at %#x still mapped after Close", area)
	}
	goleak.VerifyNone(t, goroutines)
}

// TestShareAfterOwnerDeleted opens a socket on a UMEM whose first socket
// lost its interface: the kernel refuses to share through an unbound
// socket, so the new socket registers the UMEM again.
func TestShareAfterOwnerDeleted(t *testing.T) {
	nstest.RequireRoot(t)
	p := nstest.Prefix()
	a := nstest.New(t, p+"a")
	b := nstest.New(t, p+"b")
	nstest.Veth(t, nstest.VethConfig{Netns: a, Name: "va"}, nstest.VethConfig{Netns: b, Name: "vb"})
	nstest.Veth(t, nstest.VethConfig{Netns: a, Name: "vc"}, nstest.VethConfig{Netns: b, Name: "vd"})
	nstest.Veth(t, nstest.VethConfig{Netns: a, Name: "vx"}, nstest.VethConfig{Netns: b, Name: "vy"})
	rings := RingConfig{Fill: 512, Completion: 512, Rx: 512, Tx: 512}

	a.Do(t, func() {
		u, err := NewUmem(UmemConfig{Frames: 4096, FrameSize: 2048})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		open := func(name string) (*Socket, error) {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				t.Fatal(err)
			}
			return Open(u, SocketConfig{Ifindex: ifi.Index, Queue: 0, Rings: rings, Mode: BindCopy})
		}
		first, err := open("va")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { first.Close() })
		a.MustRun(t, "ip", "link", "del", "va")

		s, err := open("vc")
		if err != nil {
			t.Fatalf("open a socket after the UMEM's first interface was deleted: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		if !s.isOwner() || !strings.Contains(s.BindNote(), "registered the UMEM again") {
			t.Errorf("socket on vc: owner %v, note %q, want the UMEM registered again", s.isOwner(), s.BindNote())
		}
		// Later sockets share the UMEM through the new registration.
		next, err := open("vx")
		if err != nil {
			t.Fatalf("open a socket that shares the UMEM again: %v", err)
		}
		t.Cleanup(func() { next.Close() })
		if next.isOwner() {
			t.Errorf("socket on vx registered the UMEM, want it to share the registration of vc")
		}
	})
}
