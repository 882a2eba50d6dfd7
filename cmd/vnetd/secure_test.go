package main

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnet-xdp/vnet/internal/nstest"
)

// startCapture starts vn capture with args on the host and gives it time
// to reach vnetd. The caller waits for the command to end.
func (h *host) startCapture(args ...string) *exec.Cmd {
	h.t.Helper()
	cmd := h.ns.Command(filepath.Join(binDir, "vn"), append([]string{"--socket", h.socket, "capture"}, args...)...)
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("vn capture on %s: %v", h.ns.Name, err)
	}
	time.Sleep(300 * time.Millisecond)
	return cmd
}

// writeKey writes hex key text to a file readable by its owner only and
// returns its path.
func writeKey(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vnet.key")
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// espRejected sums the dataplane's esp_rejected_ counters.
func espRejected(t *testing.T, stats string) uint64 {
	t.Helper()
	var sum uint64
	for _, line := range strings.Split(stats, "\n") {
		f := strings.Fields(strings.Trim(strings.TrimSpace(line), "()"))
		if len(f) == 2 && strings.HasPrefix(f[0], "esp_rejected_") {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("counter %s: %v", f[0], err)
			}
			sum += n
		}
	}
	return sum
}

// TestSecureVnets runs a conf vnet and an auth vnet across hosts. VMs
// with the vnet's key reach each other with ping, full-size packets and
// TCP. A host with another key reaches no VM and counts the packets it
// rejects. The underlay carries ESP only, never the inner frames.
func TestSecureVnets(t *testing.T) {
	hs := underlay(t, 3)
	confKey := writeKey(t, strings.Repeat("5e", 32))
	authKey := writeKey(t, strings.Repeat("a7", 16))
	wrongKey := writeKey(t, strings.Repeat("5f", 32))
	for _, h := range hs[:2] {
		h.mustVn("vnet-create", "-s", "conf", "-k", confKey, "-b", "br1502", "1502")
		h.mustVn("vnet-create", "-s", "auth", "-k", authKey, "-b", "br1503", "1503")
	}
	hs[2].mustVn("vnet-create", "-s", "conf", "-k", wrongKey, "-b", "br1502", "1502")

	for _, c := range []struct {
		device string
		mtu    string
	}{{"vnif1502", "1402"}, {"vnif1503", "1410"}} {
		if mtu := strings.TrimSpace(hs[0].ns.MustRun(t, "cat", "/sys/class/net/"+c.device+"/mtu")); mtu != c.mtu {
			t.Errorf("MTU of %s = %s, want %s (1500 less what the outer headers and ESP add)", c.device, mtu, c.mtu)
		}
	}

	a1 := hs[0].addVM("a", "br1502", "vnif1502", "198.19.2.1/24")
	a2 := hs[1].addVM("a", "br1502", "vnif1502", "198.19.2.2/24")
	hs[2].addVM("a", "br1502", "vnif1502", "198.19.2.3/24")
	b1 := hs[0].addVM("b", "br1503", "vnif1503", "198.19.3.1/24")
	hs[1].addVM("b", "br1503", "vnif1503", "198.19.3.2/24")

	// Capture what host 1 sends on the underlay while the VMs talk.
	outer := filepath.Join(t.TempDir(), "outer.pcap")
	capture := hs[0].startCapture("-i", "u0", "-d", "out", "-t", "6", "-w", outer)

	if err := ping(a1, "198.19.2.2", 3); err != nil {
		t.Fatalf("ping across conf vnet 1502: %v", err)
	}
	if err := ping(b1, "198.19.3.2", 3); err != nil {
		t.Fatalf("ping across auth vnet 1503: %v", err)
	}
	// The largest packets the devices take, without fragmentation:
	// 1402 and 1410 bytes less the IPv4 and ICMP headers.
	if out, err := a1.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1374", "198.19.2.2"); err != nil {
		t.Errorf("full-size ping across conf vnet 1502: %v\n%s", err, out)
	}
	if out, err := b1.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1382", "198.19.3.2"); err != nil {
		t.Errorf("full-size ping across auth vnet 1503: %v\n%s", err, out)
	}
	if err := ping(a1, "198.19.2.3", 2); err == nil {
		t.Errorf("a VM reached a host whose key for vnet 1502 differs")
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("vn capture: %v", err)
	}
	tcpTransfer(t, a2, a1, "198.19.2.1", 2<<20)

	stats := hs[1].mustVn("stats")
	if n := counterIn(t, stats, "vnet 0000:0000:0000:0000:0000:0000:0000:1502", "esp_opened"); n == 0 {
		t.Errorf("host 2 opened no ESP packets of vnet 1502:\n%s", stats)
	}
	if n := counterIn(t, stats, "vnet 0000:0000:0000:0000:0000:0000:0000:1503", "esp_opened"); n == 0 {
		t.Errorf("host 2 opened no ESP packets of vnet 1503:\n%s", stats)
	}
	if stats := hs[2].mustVn("stats"); espRejected(t, stats) == 0 {
		t.Errorf("host 3, with another key, rejected no ESP packets:\n%s", stats)
	}
	warned := waitFor(3*time.Second, func() bool {
		log := hs[2].log.String()
		return strings.Contains(log, "no key of this host opened") && strings.Contains(log, `"last_sender": "198.18.0.`)
	})
	if !warned {
		t.Errorf("host 3, with another key, did not log the packets it could not open and their sender:\n%s", hs[2].log.String())
	}

	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Log("tcpdump is not installed; the underlay capture is not checked")
		return
	}
	out, err := exec.Command("tcpdump", "-nr", outer).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", outer, err, out)
	}
	text := string(out)
	if strings.Count(text, "ESP(spi=") < 10 {
		t.Errorf("the underlay capture has fewer than 10 ESP packets:\n%s", text)
	}
	for _, plain := range []string{"ICMP", ".1798:"} {
		if strings.Contains(text, plain) {
			t.Errorf("the underlay capture shows %q outside ESP:\n%s", plain, text)
		}
	}
}

// TestSecureCaptureDecrypts reads an underlay capture of a conf vnet and
// an auth vnet with tshark, given the SAs that vn esp-keys exports:
// Wireshark's own ESP code must decrypt and verify what vnetd sent.
func TestSecureCaptureDecrypts(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipped: tshark is not installed (apt-get install tshark)")
	}
	hs := underlay(t, 2)
	h1, h2 := hs[0], hs[1]
	vnets := []struct {
		id, security, key, subnet string
		vm                        *nstest.Netns
	}{
		{id: "1502", security: "conf", key: strings.Repeat("c4", 16), subnet: "198.19.2."},
		{id: "1503", security: "auth", key: strings.Repeat("d5", 32), subnet: "198.19.3."},
	}
	for i := range vnets {
		v := &vnets[i]
		key := writeKey(t, v.key)
		for _, h := range []*host{h1, h2} {
			h.mustVn("vnet-create", "-s", v.security, "-k", key, "-b", "br"+v.id, v.id)
		}
		v.vm = h1.addVM("v"+v.id, "br"+v.id, "vnif"+v.id, v.subnet+"1/24")
		h2.addVM("v"+v.id, "br"+v.id, "vnif"+v.id, v.subnet+"2/24")
		if err := ping(v.vm, v.subnet+"2", 1); err != nil {
			t.Fatalf("ping across vnet %s: %v", v.id, err)
		}
	}

	dir := t.TempDir()
	pcap := filepath.Join(dir, "u0.pcap")
	capture := h1.startCapture("-i", "u0", "-d", "both", "-t", "4", "-w", pcap)
	for _, v := range vnets {
		if err := ping(v.vm, v.subnet+"2", 3); err != nil {
			t.Fatalf("ping across vnet %s during the capture: %v", v.id, err)
		}
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("vn capture: %v", err)
	}

	// Host 1 exports the SAs it sends with, for the requests, and those
	// it received with, for the replies.
	var sas string
	for _, v := range vnets {
		sas += h1.mustVn("esp-keys", v.id)
	}
	config := filepath.Join(dir, "config")
	if err := os.MkdirAll(filepath.Join(config, "wireshark"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "wireshark", "esp_sa"), []byte(sas), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tshark", "-n", "-r", pcap,
		"-o", "esp.enable_encryption_decode:TRUE",
		"-o", "esp.enable_authentication_check:TRUE",
		"-Y", "esp", "-T", "fields", "-e", "esp.icv_good", "-e", "data.data")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+config, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}

	// Wireshark has no dissector for port 1798, so the decrypted UDP
	// payload is data: the message header, the EtherIP header ending in
	// the vnet id, and the inner frame.
	const frameOffset = 4 + 18
	var packets, good int
	requests, replies := map[string]int{}, map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 2 {
			continue
		}
		packets++
		if f[0] == "1" || f[0] == "True" {
			good++
		}
		payload, err := hex.DecodeString(strings.ReplaceAll(f[1], ":", ""))
		if err != nil || len(payload) < frameOffset+14+20+1 {
			continue
		}
		id := hex.EncodeToString(payload[frameOffset-2 : frameOffset])
		frame := payload[frameOffset:]
		ip := frame[14:]
		if frame[12] != 0x08 || frame[13] != 0x00 || ip[9] != 1 {
			continue
		}
		switch ip[(ip[0]&0x0f)*4] {
		case 8:
			requests[id]++
		case 0:
			replies[id]++
		}
	}
	if packets == 0 || good != packets {
		t.Errorf("tshark verified %d of %d ESP packets, want all:\n%s", good, packets, out)
	}
	for _, v := range vnets {
		if requests[v.id] < 3 || replies[v.id] < 3 {
			t.Errorf("tshark decrypted %d echo requests and %d replies of %s vnet %s, want 3 of each:\n%s",
				requests[v.id], replies[v.id], v.security, v.id, out)
		}
	}
}
