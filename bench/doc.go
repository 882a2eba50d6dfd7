// Package bench contains the pieces of the vnet benchmark harness
// (cmd/vnbench). They are network namespaces that it creates and removes,
// XDP programs that generate and count traffic, and a minimal AF_XDP
// forwarder built on the pmd package. A UDP echo measures latency, /proc
// gives CPU use, a parser reads `go test -bench` output, and writers
// render the report as markdown with SVG plots.
//
// Traffic comes from BPF_PROG_RUN in live-frames mode
// (BPF_F_TEST_XDP_LIVE_FRAMES): a four-instruction XDP program that
// returns bpf_redirect(ifindex) makes the kernel transmit each run's
// frame through that interface's ndo_xdp_xmit. Delivery is counted by
// XDP programs at the sinks, never by sockets, because a socket cannot
// keep up with millions of frames per second and because frames
// redirected into AF_XDP are invisible to packet capture.
package bench
