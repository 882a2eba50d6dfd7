// Package pmd is a poll-mode driver for AF_XDP sockets: the UMEM that
// holds the frames, the sockets and their four rings, and a Worker that
// polls a set of sockets sharing one UMEM on one pinned OS thread.
//
// # Frames
//
// A UMEM is cut into frames of 2048 or 4096 bytes. Every frame is in
// exactly one place at a time: on the free stack, held by the worker
// (between receive and transmit or release), on a socket's fill or RX
// ring, or on its TX or completion ring. Received frames start
// FrameHeadroom bytes into their UMEM frame, so that headers can be
// prepended in place, and SocketConfig.Tailroom reserves room at the
// end for trailers.
//
// Sockets are opened without multi-buffer support (XDP_USE_SG), so a
// frame must fit in one UMEM frame. Open fails when the interface's MTU
// plus the Ethernet header and one VLAN tag does not fit after the
// headroom and the tailroom. Should a descriptor with XDP_PKT_CONTD
// arrive all the same, the worker drops that frame with all its
// continuation descriptors and counts it in PortStats.RxMultiBuffer.
// Frames that reach into the tailroom are dropped too, and counted in
// PortStats.RxOversize. Nothing is truncated.
//
// # Sizing
//
// Each port may keep its fill target (frames on its fill and RX rings
// together) and a full TX ring of frames away from the free stack, and
// the worker holds up to BatchSize frames in flight. Worker.AddPort
// fails when the sum over the worker's ports would exceed the UMEM, so
// no port can starve the others of frames.
//
// # Bind modes
//
// BindAuto binds in zero-copy mode where the driver supports it and in
// copy mode otherwise. Because some drivers accept a zero-copy bind but
// never transmit, a zero-copy bind in auto mode is followed by a
// transmit self-test: one 60-byte frame from the interface's MAC
// address to itself, with EtherType 0x88b5 (IEEE local experimental),
// must complete within SelfTestTimeout, or the socket is reopened in
// copy mode. Socket.String and Socket.BindNote tell which mode was
// chosen and why. Sockets that share a UMEM inherit the mode of the
// socket that registered it.
//
// # Testing
//
// NewFakeSocket gives a socket whose kernel side runs in memory, with
// knobs for the kernel's failures, so that code above the sockets is
// tested without privileges. Builds with the pmddebug tag check every
// move of a frame between places and panic on the first wrong one:
//
//	go test -tags pmddebug ./pmd
//
// Tests that need root build their own network namespaces and veth
// pairs; -short skips them.
package pmd
