package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runVnetd runs a vnetd in the host's namespace that is expected to stop
// by itself, and returns its output and error.
func (h *host) runVnetd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns.Name, filepath.Join(buildBinaries(h.t), "vnetd")}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSecondDaemonRefused starts a second vnetd on the socket and on the
// state directory of a running one: it stops at once and names the
// process that holds them, and the first one keeps working.
func TestSecondDaemonRefused(t *testing.T) {
	h := underlay(t, 1)[0]
	h.mustVn("vnet-create", "1500")
	pid := h.cmd.Process.Pid
	holder := fmt.Sprintf("process %d (vnetd)", pid)

	out, err := h.runVnetd("--iface", "u0", "--socket", h.socket, "--state-dir", t.TempDir())
	if err == nil {
		t.Fatalf("second vnetd on the same socket ran and ended without error:\n%s", out)
	}
	if want := holder + " is serving on it"; !strings.Contains(out, want) {
		t.Errorf("second vnetd on the same socket said:\n%s\nwant it to contain %q", out, want)
	}

	other := filepath.Join(t.TempDir(), "other.sock")
	out, err = h.runVnetd("--iface", "u0", "--socket", other, "--state-dir", h.stateDir)
	if err == nil {
		t.Fatalf("second vnetd on the same state directory ran and ended without error:\n%s", out)
	}
	if want := "it is in use by " + holder; !strings.Contains(out, want) {
		t.Errorf("second vnetd on the same state directory said:\n%s\nwant it to contain %q", out, want)
	}
	if _, err := os.Lstat(other); err == nil {
		t.Errorf("the refused vnetd left its socket %s", other)
	}

	if out := h.mustVn("vnets"); !strings.Contains(out, "(vnetif vnif1500)") {
		t.Errorf("first vnetd lists after the refused starts:\n%s", out)
	}
}

// TestSocketModeAndGroup checks the socket file of the daemon: mode 0600
// owned by root, or 0660 with --socket-group.
func TestSocketModeAndGroup(t *testing.T) {
	hs := underlay(t, 2)
	hs[1].stop()
	hs[1].args = []string{"--socket-group", "daemon"}
	hs[1].start(buildBinaries(t))
	for i, want := range []struct {
		mode os.FileMode
		gid  uint32
	}{{0o600, 0}, {0o660, 1}} {
		info, err := os.Lstat(hs[i].socket)
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		if info.Mode().Perm() != want.mode || st.Uid != 0 || st.Gid != want.gid {
			t.Errorf("socket of host %d: mode %#o owner %d:%d, want mode %#o owner 0:%d", i+1, info.Mode().Perm(), st.Uid, st.Gid, want.mode, want.gid)
		}
	}
}

// TestStartupFileAndRestart starts vnetd with a startup file of the
// original's commands, then restarts it with the same file and state:
// the configuration is there once, and the file's commands that exist
// already are skipped.
func TestStartupFileAndRestart(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "vnetd.conf")
	text := `# vnetd configuration
(peer.add (addr 198.18.0.9))
(varp.mcaddr (addr 224.10.0.2))
(vnet.add (id 1500))
(vnet.add (id 0:0:0:0:0:0:1:2a00) (vnetif vn2a00))
`
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h := underlay(t, 1)[0]
	h.stop()
	h.args = []string{"-f", conf}
	h.start(buildBinaries(t))

	check := func(when string) {
		vnets := h.mustVn("vnets")
		for _, dev := range []string{"vnif1500", "vn2a00"} {
			if strings.Count(vnets, "(vnetif "+dev+")") != 1 {
				t.Errorf("%s: vnets lists device %s %d times, want once:\n%s", when, dev, strings.Count(vnets, "(vnetif "+dev+")"), vnets)
			}
		}
		if peers := h.mustVn("peers"); !strings.Contains(peers, "(addr 198.18.0.9)") {
			t.Errorf("%s: peers lack 198.18.0.9:\n%s", when, peers)
		}
		if varp := h.mustVn("varp"); !strings.Contains(varp, "(mcast_addr 224.10.0.2)") {
			t.Errorf("%s: group is not 224.10.0.2:\n%s", when, varp)
		}
	}
	check("first start")
	h.mustVn("vnet-create", "1501")

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.start(buildBinaries(t))
	check("restart")
	if vnets := h.mustVn("vnets"); !strings.Contains(vnets, "(vnetif vnif1501)") {
		t.Errorf("restart: vnet 1501 created by command is missing:\n%s", vnets)
	}
	log := h.log.String()
	// The two vnet.add commands exist; peer.add and varp.mcaddr apply
	// again without changing anything.
	if n := strings.Count(log, "startup command skipped"); n != 2 {
		t.Errorf("restart logged %d skipped startup commands, want 2:\n%s", n, log)
	}
	if strings.Contains(log, "startup command failed") || strings.Contains(log, "restore command failed") {
		t.Errorf("restart logged failed commands:\n%s", log)
	}
	// The saved group, 224.10.0.2, differs from the default vnetd starts
	// with.
	if !strings.Contains(log, "the saved multicast group replaces the one vnetd started with") {
		t.Errorf("restart did not warn that the saved group replaced --mcast-addr:\n%s", log)
	}
}

// TestStartupFileSyntaxError checks that vnetd does not start with a
// startup file that does not parse, and names the line.
func TestStartupFileSyntaxError(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "vnetd.conf")
	if err := os.WriteFile(conf, []byte("(vnet.add (id 1500))\n(vnet.list)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := underlay(t, 1)[0]
	out, err := h.runVnetd("--iface", "u0", "--socket", filepath.Join(t.TempDir(), "s"), "--state-dir", t.TempDir(), "--file", conf)
	if err == nil {
		t.Fatalf("vnetd with a list command in its startup file ran:\n%s", out)
	}
	if want := conf + ": line 2: (vnet.list) is not a configuration command"; !strings.Contains(out, want) {
		t.Errorf("vnetd said:\n%s\nwant it to contain %q", out, want)
	}
}

// TestBrokenStateFile starts vnetd on a state file with a syntax error.
// vnetd keeps the file aside, restores the commands before the error and
// logs that it runs with part of its state.
func TestBrokenStateFile(t *testing.T) {
	h := underlay(t, 1)[0]
	h.stop()
	state := "(peer.add (addr 198.18.0.9) (port 1798))\n(vnet.add (id 1500) (vnetif vnif1500)\n"
	if err := os.WriteFile(filepath.Join(h.stateDir, "state.sxp"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(buildBinaries(t))

	if peers := h.mustVn("peers"); !strings.Contains(peers, "(addr 198.18.0.9)") {
		t.Errorf("peer before the error not restored:\n%s", peers)
	}
	asides, _ := filepath.Glob(filepath.Join(h.stateDir, "state.sxp.bad-*"))
	if len(asides) != 1 {
		t.Fatalf("set-aside state files %v, want one", asides)
	}
	if b, _ := os.ReadFile(asides[0]); string(b) != state {
		t.Errorf("set-aside file = %q, want the broken state %q", b, state)
	}
	log := h.log.String()
	for _, want := range []string{"state file does not parse", "the list that starts at line 2, column 1", "vnetd starts with the part of its saved state that could be restored"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestExampleConfiguration starts vnetd with the example startup file
// that the systemd unit uses, so that the file stays valid.
func TestExampleConfiguration(t *testing.T) {
	conf, err := filepath.Abs("../../scripts/systemd/vnetd.conf")
	if err != nil {
		t.Fatal(err)
	}
	h := underlay(t, 1)[0]
	h.stop()
	h.args = []string{"-f", conf}
	h.start(buildBinaries(t))
	if vnets := h.mustVn("vnets"); !strings.Contains(vnets, "(vnetif vnif1500)") {
		t.Errorf("the example configuration did not create vnet 1500:\n%s", vnets)
	}
	if log := h.log.String(); strings.Contains(log, "startup command failed") {
		t.Errorf("the example configuration has a failing command:\n%s", log)
	}
}

// TestInvalidCPURefused: a CPU the process may not use stops vnetd at
// start, before it attaches to any interface.
func TestInvalidCPURefused(t *testing.T) {
	h := underlay(t, 1)[0]
	out, err := h.runVnetd("--iface", "u0", "--socket", filepath.Join(t.TempDir(), "s"), "--state-dir", t.TempDir(), "--cpus", "999")
	if err == nil || !strings.Contains(out, "invalid CPU 999 (this process may use CPUs 0,") {
		t.Errorf("vnetd --cpus 999 = %v:\n%s\nwant an error naming CPU 999 and the usable CPUs", err, out)
	}
	if strings.Contains(out, "XDP program attached") {
		t.Errorf("vnetd --cpus 999 attached XDP before it failed:\n%s", out)
	}
}
