package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// churnCycle returns the commands of one configuration cycle on a host:
// a vnet that is added with a vif and deleted again, a vif added to and
// deleted from that vnet, and a peer added and deleted. None of them
// touches vnet 1500. Peers are in 198.18.9.0/24, which no host of the test uses.
func churnCycle(hostIndex, i int) []string {
	vid := fmt.Sprintf("%x", 0x2000+hostIndex*0x100+i%8)
	mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", hostIndex, (i>>8)&0xff, i&0xff)
	peer := fmt.Sprintf("198.18.9.%d", 1+(hostIndex*50+i%50))
	return []string{
		fmt.Sprintf("(vnet.add (id %s) (vnetif vc%s))", vid, vid),
		fmt.Sprintf("(vif.add (vnet %s) (vmac %s))", vid, mac),
		fmt.Sprintf("(peer.add (addr %s))", peer),
		"(vnet.list)",
		fmt.Sprintf("(vif.del (vnet %s) (vmac %s))", vid, mac),
		fmt.Sprintf("(peer.del (addr %s))", peer),
		fmt.Sprintf("(vnet.del (id %s))", vid),
	}
}

// TestChangesUnderLoad sends a bounded UDP flow between two VMs of vnet
// 1500 on different hosts while both hosts add and delete other vnets,
// vifs and peers in a loop. The data path reads configuration snapshots
// that changes replace whole, so not one datagram of the flow may be
// lost.
func TestChangesUnderLoad(t *testing.T) {
	const (
		datagrams = 20000
		rate      = 5000 // per second, so the flow lasts 4 s
	)
	hs := underlay(t, 2)
	for _, h := range hs {
		h.mustVn("vnet-create", "-b", "br1500", "1500")
	}
	a1 := hs[0].addVM("a", "br1500", "vnif1500", "198.19.0.1/24")
	a2 := hs[1].addVM("a", "br1500", "vnif1500", "198.19.0.2/24")
	// Resolve ARP and let both hosts learn the VMs before the flow.
	if err := ping(a1, "198.19.0.2", 3); err != nil {
		t.Fatalf("ping across vnet 1500 before the flow: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	cycles := make([]int, len(hs))
	errs := make(chan error, len(hs))
	for hi, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialCtl(h.socket)
			if err != nil {
				errs <- fmt.Errorf("connect to vnetd in %s: %w", h.ns.Name, err)
				return
			}
			defer c.close()
			// A bound on the cycles as well as the stop channel, so that
			// the loop ends by itself.
			for i := 0; i < 10000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for _, cmd := range churnCycle(hi, i) {
					if _, err := c.do(cmd); err != nil {
						errs <- fmt.Errorf("cycle %d on %s: %w", i, h.ns.Name, err)
						return
					}
				}
				cycles[hi]++
			}
		}()
	}

	res := udpFlow(t, a1, a2, "198.19.0.2:9000", datagrams, rate, time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	t.Logf("flow on vnet 1500: %v; configuration cycles while it ran: %d on %s, %d on %s",
		res, cycles[0], hs[0].ns.Name, cycles[1], hs[1].ns.Name)
	if res.lost() != 0 {
		t.Errorf("lost %d of %d datagrams while other vnets, vifs and peers changed, want 0 (%v)", res.lost(), res.sent, res)
		for _, h := range hs {
			t.Logf("counters of %s after the flow:\n%s", h.ns.Name, h.mustCtl("(stats.list)"))
		}
	}
	if res.duplicates != 0 {
		t.Errorf("%d datagrams arrived twice, want 0", res.duplicates)
	}
	for hi, n := range cycles {
		// Each cycle adds and deletes a vnet with its devices, which takes
		// tens of milliseconds; fewer cycles would not overlap the flow.
		if n < 5 {
			t.Errorf("%d configuration cycles ran on %s during the flow, want at least 5", n, hs[hi].ns.Name)
		}
	}
}
