package control

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/control/controltest"
	"github.com/vnet-xdp/vnet/internal/pcapfile"
)

// TestCaptureStream: a capture replies (ok), then streams a pcap file,
// then closes the connection.
func TestCaptureStream(t *testing.T) {
	dp := controltest.New()
	frames := [][]byte{bytes.Repeat([]byte{1}, 60), bytes.Repeat([]byte{2}, 70), bytes.Repeat([]byte{3}, 80)}
	dp.SetCaptureFrames(frames)
	_, path := startServer(t, Config{Dataplane: dp})
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("(capture (vnet 1500) (count 2))")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || status != "(ok)\n" {
		t.Fatalf("status line = %q, %v; want (ok)", status, err)
	}
	pr, err := pcapfile.NewReader(r)
	if err != nil {
		t.Fatalf("read pcap header: %v", err)
	}
	var got [][]byte
	for {
		rec, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read pcap record: %v", err)
		}
		got = append(got, rec.Data)
	}
	if len(got) != 2 || !bytes.Equal(got[0], frames[0]) || !bytes.Equal(got[1], frames[1]) {
		t.Errorf("captured %d frames, want the first 2", len(got))
	}
}
