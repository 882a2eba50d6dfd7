package esp

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/internal/pcapfile"
	"github.com/vnet-xdp/vnet/overlay/wire"
)

// tsharkPacket is a packet written to the capture and what tshark must
// make of it.
type tsharkPacket struct {
	name  string
	frame []byte
	// payload is the UDP payload tshark must show after decryption: the
	// vnet message header and what follows it. Nil for packets that
	// tshark must fail to verify.
	payload []byte
}

// TestTsharkDecryptsAndVerifies checks the packets against an independent
// ESP implementation, Wireshark's dissector, given the SAs as AppendESPSA
// renders them. It must verify the ICV of every packet, decrypt the conf
// ones, and find the original UDP payload, a VUDP frame or a VARP
// message. A packet changed after sealing must fail its ICV check.
func TestTsharkDecryptsAndVerifies(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not found in PATH (install the Debian package tshark to run this test)")
	}

	var packets []tsharkPacket
	var uat []byte
	for _, tc := range []struct {
		mode Mode
		psk  []byte
		vnet wire.VnetID
		src  [4]byte
	}{
		{ModeConf, psk1, vnetA, host1},
		{ModeConf, psk3, vnetB, host2},
		{ModeAuth, psk1, vnetA, host3},
		{ModeAuth, psk3, vnetB, host1},
	} {
		k := newTestKey(t, tc.vnet, tc.mode, tc.psk)
		s := newTestSender(t, k, tc.src)
		name := tc.mode.String() + "/" + tc.vnet.String()
		for _, n := range []int{14, 60, 61, 62, 63, 1514} {
			inner := innerFrame(n, byte(n))
			frame := sealFrame(t, s, vudpFrame(tc.mode, tc.src, host2, tc.vnet, inner))
			packets = append(packets, tsharkPacket{
				name:    name + "/vudp",
				frame:   frame,
				payload: plainPayload(tc.vnet, inner)[wire.UDPHeaderLen:],
			})
		}
		varpFrame, varpMsg := varpAnnounce(tc.mode, tc.src, tc.vnet)
		packets = append(packets, tsharkPacket{name: name + "/varp", frame: sealFrame(t, s, varpFrame), payload: varpMsg})

		bad := sealFrame(t, s, vudpFrame(tc.mode, tc.src, host2, tc.vnet, innerFrame(100, 1)))
		bad[len(bad)-ICVLen-5] ^= 0x40
		packets = append(packets, tsharkPacket{name: name + "/tampered", frame: bad})

		uat = AppendESPSA(uat, k, nil)
	}

	dir := t.TempDir()
	capture := filepath.Join(dir, "esp.pcap")
	writeCapture(t, capture, packets)
	conf := filepath.Join(dir, "config", "wireshark")
	if err := os.MkdirAll(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "esp_sa"), uat, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tshark, "-n", "-r", capture,
		"-o", "esp.enable_encryption_decode:TRUE",
		"-o", "esp.enable_authentication_check:TRUE",
		"-T", "fields", "-E", "separator=/t",
		"-e", "frame.number", "-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad",
		"-e", "esp.protocol", "-e", "udp.dstport", "-e", "data.data")
	// tshark reads its profile from $XDG_CONFIG_HOME/wireshark.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}

	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(packets) {
		t.Fatalf("tshark printed %d lines for %d packets:\n%s\n%s", len(lines), len(packets), out, stderr.String())
	}
	for i, line := range lines {
		p := packets[i]
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Errorf("packet %d (%s): tshark fields %q, want 7", i+1, p.name, f)
			continue
		}
		good, badICV, next, port, data := f[2], f[3], f[4], f[5], f[6]
		if p.payload == nil {
			if badICV != "1" || good == "1" {
				t.Errorf("packet %d (%s): tshark ICV good %q bad %q, want the check to fail", i+1, p.name, good, badICV)
			}
			continue
		}
		if good != "1" || badICV == "1" {
			t.Errorf("packet %d (%s): tshark ICV good %q bad %q, want verified", i+1, p.name, good, badICV)
		}
		if next != "0x11" || port != "1798" {
			t.Errorf("packet %d (%s): tshark next header %q, UDP port %q, want 0x11 and 1798", i+1, p.name, next, port)
		}
		if want := hex.EncodeToString(p.payload); data != want {
			t.Errorf("packet %d (%s): tshark payload\n%s\nwant\n%s", i+1, p.name, data, want)
		}
	}
}

// varpAnnounce returns a VARP announce frame from src, laid out for Seal,
// and its UDP payload.
func varpAnnounce(mode Mode, src [4]byte, vnet wire.VnetID) ([]byte, []byte) {
	h := mode.HeaderLen()
	const l2l3 = wire.EthHeaderLen + wire.IPv4HeaderLen
	buf := make([]byte, h+wire.VarpPacketLen+MaxTrailerLen)
	o := wire.Outer{EthDst: mac2, EthSrc: mac1, Src: src, Dst: host2, TTL: wire.DefaultTTL, SrcPort: wire.Port, Vnet: vnet}
	wire.PutVarpPacket(buf[h:], &o, wire.VarpAnnounce, mac1, src)
	msg := clone(buf[h+l2l3+wire.UDPHeaderLen : h+wire.VarpPacketLen])
	copy(buf[:l2l3], buf[h:h+l2l3])
	return buf, msg
}

func writeCapture(t *testing.T, path string, packets []tsharkPacket) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapfile.NewWriter(f, pcapfile.LinkTypeEthernet, pcapfile.MaxRecordLen)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range packets {
		if err := w.Write(epoch.Add(time.Duration(i)*time.Millisecond), p.frame, len(p.frame)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
