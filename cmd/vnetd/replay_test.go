package main

import (
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnet-xdp/vnet/internal/nstest"
	"github.com/vnet-xdp/vnet/internal/pcapfile"
)

// TestCaptureReplayDaemon sends every frame of a capture of the original
// vnetd to a running vnetd that has the receiving host's address, MAC
// and vnet: the daemon keeps running, delivers the data frames and
// counts the malformed ones.
func TestCaptureReplayDaemon(t *testing.T) {
	nstest.RequireRoot(t)
	bin := buildBinaries(t)
	p := nstest.Prefix()
	h := &host{t: t, ns: nstest.New(t, p+"h2"), addr: "198.18.0.2", socket: t.TempDir() + "/h2.sock"}
	peer := nstest.New(t, p+"h1")
	nstest.Veth(t,
		nstest.VethConfig{Netns: h.ns, Name: "u0", MAC: "7a:00:ed:9f:16:4f", Addr: "198.18.0.2/24"},
		nstest.VethConfig{Netns: peer, Name: "u0", MAC: "2a:8c:92:d0:9d:18", Addr: "198.18.0.1/24"})
	h.start(bin)
	h.mustVn("vnet-create", "1500")

	frames := readCapture(t, "../../overlay/testdata/xen-vnetd-two-hosts.pcap")
	peer.Do(t, func() {
		ifi, err := net.InterfaceByName("u0")
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		for i, f := range frames {
			to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
			copy(to.Addr[:], f[0:6])
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				t.Fatalf("send frame %d: %v", i+1, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})

	var stats string
	deadline := time.Now().Add(5 * time.Second)
	for {
		stats = h.mustVn("raw", "(stats.list)")
		if counter(t, stats, "drop_malformed") >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := counter(t, stats, "drop_malformed"); got != 4 {
		t.Errorf("drop_malformed = %d, want 4 (frames 29, 31, 32 and 33)", got)
	}
	if got := counter(t, stats, "malformed_etherip_version"); got != 2 {
		t.Errorf("malformed_etherip_version = %d, want 2 (frames 29 and 31)", got)
	}
	if got := counter(t, stats, "drop_not_from_peer"); got != 1 {
		t.Errorf("drop_not_from_peer = %d, want 1 (frame 34)", got)
	}
	if got := counter(t, stats, "rx_frames"); got != 10 {
		t.Errorf("vnet rx_frames = %d, want 10 data frames delivered", got)
	}
	if out := h.mustVn("vnets"); !regexp.MustCompile(`vnif1500`).MatchString(out) {
		t.Errorf("vnet list after the replay lacks vnif1500:\n%s", out)
	}
}

func readCapture(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, rec.Data)
	}
}

// counter returns the first value of the counter name in stats.list
// output.
func counter(t *testing.T, stats, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\(` + regexp.QuoteMeta(name) + ` (\d+)\)`).FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("counter %s not in stats:\n%s", name, stats)
	}
	v, _ := strconv.ParseUint(m[1], 10, 64)
	return v
}
