package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay"
)

func TestCaptureWritesPcap(t *testing.T) {
	dp := controltest.New()
	frames := [][]byte{bytes.Repeat([]byte{7}, 60), bytes.Repeat([]byte{8}, 64)}
	dp.SetCaptureFrames(frames)
	socket := startDaemon(t, dp)
	mustVN(t, socket, "vnet-create", "1500")

	for _, to := range []string{"stdout", "file"} {
		t.Run(to, func(t *testing.T) {
			var data []byte
			if to == "file" {
				path := filepath.Join(t.TempDir(), "out.pcap")
				mustVN(t, socket, "capture", "-c", "2", "-w", path, "vnif1500")
				var err error
				if data, err = os.ReadFile(path); err != nil {
					t.Fatal(err)
				}
			} else {
				data = []byte(mustVN(t, socket, "capture", "-c", "2", "-d", "in", "1500"))
			}
			r, err := pcapfile.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("output is not a pcap file: %v", err)
			}
			var got [][]byte
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, rec.Data)
			}
			if len(got) != 2 || !bytes.Equal(got[0], frames[0]) || !bytes.Equal(got[1], frames[1]) {
				t.Errorf("captured %d frames, want the 2 set", len(got))
			}
		})
	}
}

func TestVarpLimits(t *testing.T) {
	dp := controltest.New()
	socket := startDaemon(t, dp)
	mustVN(t, socket, "varp-limits", "--entries", "512", "--flood-rate", "0")
	want := overlay.Limits{MaxVarpEntries: 512}
	if got := dp.Varp().Limits; got.MaxVarpEntries != want.MaxVarpEntries || got.FloodRate != 0 {
		t.Errorf("limits after vn varp-limits = %+v, want max entries 512 and flood rate 0", got)
	}
}

// TestCaptureRefusesTerminal: a pcap is binary, so vn capture does not
// write it to a terminal.
func TestCaptureRefusesTerminal(t *testing.T) {
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("skipped: no pseudo-terminal to write to: %v", err)
	}
	defer tty.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if !isTerminal(tty) || isTerminal(w) || isTerminal(&bytes.Buffer{}) {
		t.Fatalf("isTerminal: pseudo-terminal %v, pipe %v, buffer %v, want true, false, false", isTerminal(tty), isTerminal(w), isTerminal(&bytes.Buffer{}))
	}

	var stderr bytes.Buffer
	code := run([]string{"--socket", filepath.Join(t.TempDir(), "none"), "capture", "1500"}, tty, &stderr, func(string) string { return "" })
	if code != exitUsage || !strings.Contains(stderr.String(), "the pcap is binary; give -w FILE") {
		t.Errorf("vn capture to a terminal: exit %d, stderr %q, want a usage error", code, stderr.String())
	}
}
