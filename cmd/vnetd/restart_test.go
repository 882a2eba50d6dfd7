package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burstOp is one command of the burst and the object it adds or deletes.
type burstOp struct {
	cmd string
	// kind and key name the object, such as "vnet" and its full id.
	kind, key string
	add       bool
}

// burstOps returns the commands of the burst: vnets, vifs on vnet 1500
// and peers are added, and every third one of each is deleted again a
// little later. Objects are unique, so each is added and deleted at most
// once.
func burstOps(n int) []burstOp {
	var ops []burstOp
	for i := 0; i < n; i++ {
		vid := fmt.Sprintf("0000:0000:0000:0000:0000:0000:0000:%04x", 0x3000+i)
		mac := fmt.Sprintf("02:00:00:00:%02x:%02x", 0x10+i/256, i%256)
		peer := fmt.Sprintf("198.18.8.%d", 1+i%250)
		ops = append(ops,
			burstOp{fmt.Sprintf("(vnet.add (id %s) (vnetif vk%d))", vid, i), "vnet", vid, true},
			burstOp{fmt.Sprintf("(vif.add (vnet 1500) (vmac %s))", mac), "vif", mac, true},
			burstOp{fmt.Sprintf("(peer.add (addr %s) (port %d))", peer, 2000+i), "peer", peer, true},
		)
		if j := i - 2; j >= 0 && j%3 == 0 {
			jvid := fmt.Sprintf("0000:0000:0000:0000:0000:0000:0000:%04x", 0x3000+j)
			jmac := fmt.Sprintf("02:00:00:00:%02x:%02x", 0x10+j/256, j%256)
			jpeer := fmt.Sprintf("198.18.8.%d", 1+j%250)
			ops = append(ops,
				burstOp{fmt.Sprintf("(vnet.del (id %s))", jvid), "vnet", jvid, false},
				burstOp{fmt.Sprintf("(vif.del (vnet 1500) (vmac %s))", jmac), "vif", jmac, false},
				burstOp{fmt.Sprintf("(peer.del (addr %s))", jpeer), "peer", jpeer, false},
			)
		}
	}
	return ops
}

// TestKillDuringCommandBurst kills vnetd with SIGKILL in the middle of a
// burst of commands and restarts it on the same state directory. Every
// command that got (ok) before the kill must be in effect, and VMs on the
// vnet must reach each other again.
func TestKillDuringCommandBurst(t *testing.T) {
	hs := underlay(t, 2)
	for _, h := range hs {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := hs[0].addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	hs[1].addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	if err := ping(a1, "198.19.0.2", 2); err != nil {
		t.Fatalf("ping across vnet 1500 before the kill: %v", err)
	}

	h := hs[0]
	ops := burstOps(150)
	// present records, for each object, whether its last acknowledged
	// command added it. inFlight is the command sent when vnetd died,
	// whose effect may or may not have been saved.
	present := map[string]bool{}
	var inFlight string
	var acked atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := dialCtl(h.socket)
		if err != nil {
			t.Errorf("connect to vnetd: %v", err)
			return
		}
		defer c.close()
		for _, op := range ops {
			if _, err := c.do(op.cmd); err != nil {
				inFlight = op.kind + " " + op.key
				return
			}
			present[op.kind+" "+op.key] = op.add
			acked.Add(1)
		}
	}()

	// Kill once a random number of commands, 30 to 120, were
	// acknowledged, while the burst goes on.
	killAfter := int32(30 + rand.IntN(90))
	deadline := time.Now().Add(30 * time.Second)
	for acked.Load() < killAfter {
		if time.Now().After(deadline) {
			t.Fatalf("only %d commands acknowledged within 30 s", acked.Load())
		}
		time.Sleep(time.Millisecond)
	}
	h.kill()
	wg.Wait()
	if inFlight == "" {
		t.Fatalf("the burst of %d commands ended before the kill, want vnetd killed in the middle", len(ops))
	}
	t.Logf("killed vnetd after %d acknowledged commands; %s was in flight", acked.Load(), inFlight)

	h.start(buildBinaries(t))
	vnets := h.mustCtl("(vnet.list)")
	vifs := h.mustCtl("(vif.list)")
	peers := h.mustCtl("(peer.list)")
	listing := map[string]string{"vnet": vnets, "vif": vifs, "peer": peers}
	var missing, unexpected []string
	for obj, want := range present {
		if obj == inFlight {
			continue
		}
		kind, key, _ := strings.Cut(obj, " ")
		var has bool
		switch kind {
		case "vnet":
			has = strings.Contains(vnets, "(id "+key+")")
		case "vif":
			has = strings.Contains(vifs, "(vmac "+key+")")
		case "peer":
			has = strings.Contains(peers, "(addr "+key+")")
		}
		switch {
		case want && !has:
			missing = append(missing, obj)
		case !want && has:
			unexpected = append(unexpected, obj)
		}
	}
	if !strings.Contains(vnets, "(vnetif vnif1500)") {
		missing = append(missing, "vnet 1500")
	}
	if len(missing) > 0 || len(unexpected) > 0 {
		hint := ""
		if strings.Contains(h.log.String(), "an interface of that name exists") {
			hint = "\nvnet.add does not adopt the veth pairs that the killed vnetd left"
		}
		t.Errorf("after the restart, acknowledged changes are lost: missing %v, deleted but present %v%s\nlists: %v",
			missing, unexpected, hint, listing)
	}
	// The port of a restored peer is the acknowledged one.
	for obj, want := range present {
		kind, key, _ := strings.Cut(obj, " ")
		if kind == "peer" && want && obj != inFlight {
			if !strings.Contains(peers, "(addr "+key+")\n  (port ") {
				t.Errorf("peer %s lacks its port after the restart:\n%s", key, peers)
			}
			break
		}
	}
	if asides, _ := filepath.Glob(filepath.Join(h.stateDir, "state.sxp.bad-*")); len(asides) > 0 {
		for _, a := range asides {
			b, _ := os.ReadFile(a)
			t.Logf("state file kept aside at %s:\n%s", a, b)
		}
		t.Errorf("the restart set the state file aside, want a clean restore")
	}

	// Traffic resumes: learning and ARP start over, so allow some time.
	var err error
	for try := 0; try < 10; try++ {
		if err = ping(a1, "198.19.0.2", 2); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("ping across vnet 1500 after the restart: %v", err)
	}
}
