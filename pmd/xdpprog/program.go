package xdpprog

import (
	"encoding/binary"

	"github.com/cilium/ebpf/asm"
)

const (
	programName = "vnet_steer"
	// license is the program's declared license. The program calls no
	// GPL-only helper, and the kernel checks the string only for those.
	license = "GPL"
)

// Layout of a "ports" map value: struct { u32 base, queues, kind, flags;
// u16 udp_port (network byte order); u16 pad }.
const (
	portOffBase    = 0
	portOffQueues  = 4
	portOffKind    = 8
	portOffFlags   = 12
	portOffUDPPort = 16
	portValueSize  = 20
)

// Indexes of the "counters" per-CPU array. Tools that dump the map read
// them in this order.
const (
	counterPassed = iota
	counterSteered
	counterNoPort
	counterQueueOutOfRange
	counterNotIPv4
	counterNotVnet
	counterFragment
	counterESP
	counterEtherIP
	counterTruncated
	counterMalformed
	counterCount
)

// Offsets in struct xdp_md (include/uapi/linux/bpf.h).
const (
	xdpMDData           = 0
	xdpMDDataEnd        = 4
	xdpMDIngressIfindex = 12
	xdpMDRxQueueIndex   = 16
)

// Return codes of enum xdp_action (include/uapi/linux/bpf.h).
const xdpPass = 2

// Header offsets and values. Offsets count from the start of the frame.
const (
	ethHeaderLen   = 14
	ethOffType     = 12
	ipv4OffVerIHL  = ethHeaderLen + 0
	ipv4OffFrag    = ethHeaderLen + 6
	ipv4OffProto   = ethHeaderLen + 9
	ipv4MinLen     = 20
	udpOffDstPort  = 2 // from the start of the UDP header
	ipProtoUDP     = 17
	ipProtoESP     = 50 // RFC 4303
	ipProtoEtherIP = 97 // RFC 3378
	ethTypeIPv4    = 0x0800
	// ipv4FragMask selects the MF flag and the fragment offset in the
	// IPv4 flags/fragment-offset field (RFC 791). DF is not part of it.
	ipv4FragMask = 0x3fff
)

// wire16 returns the value that a 16-bit load from memory holding v in
// network byte order yields on this host. The program compares packet
// fields with such constants, so it needs no byte swaps.
func wire16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// Registers the program keeps across helper calls (R6 to R9 are
// callee-saved in the BPF calling convention).
const (
	regCtx    = asm.R6 // struct xdp_md *
	regPort   = asm.R7 // ports map value of the receiving interface
	regSlot   = asm.R8 // XSKMAP slot of the receiving queue
	regReason = asm.R9 // counter index of the pass reason
)

// Registers used between the header checks (no helper calls there).
const (
	regData    = asm.R2 // first byte of the frame
	regDataEnd = asm.R3 // one past the last byte of the first buffer
	regIHL     = asm.R4 // IPv4 header length in bytes
	regProto   = asm.R5 // IPv4 protocol
	regFlags   = asm.R0 // Port.Flags
)

// Stack slots.
const (
	stackIfindex = -4  // u32 key for the ports map
	stackCounter = -8  // u32 key for the counters map
	stackFragKey = -24 // fragment key: u32 saddr, u32 daddr, u16 id, u8 proto, u8 pad
	stackFragVal = -28 // u32 value for the frags map
)

// The frags map records first fragments of datagrams to the UDP port.
const (
	fragKeySize    = 12
	fragMapEntries = 4096
	ipv4OffID      = ethHeaderLen + 4
	ipv4OffSrc     = ethHeaderLen + 12
	ipv4OffDst     = ethHeaderLen + 16
	// ipv4OffsetMask selects the fragment offset alone.
	ipv4OffsetMask = 0x1fff
	bpfAny         = 0 // BPF_ANY: create or update
)

// instructions returns the steering program for the maps with the given
// file descriptors.
//
// Every path to XDP_PASS first sets regReason and jumps to "pass", which
// increments that counter and counterPassed. Every path to a redirect
// jumps to "steer" with regSlot set.
func instructions(portsFD, xsksFD, countersFD, fragsFD int) asm.Instructions {
	var insns asm.Instructions
	insns = append(insns, lookupPort(portsFD)...)
	insns = append(insns, underlayHeaders()...)
	insns = append(insns, underlayProtocols()...)
	insns = append(insns, underlayFragments(fragsFD)...)
	insns = append(insns, steer(xsksFD, countersFD)...)
	insns = append(insns, pass(countersFD)...)
	return insns
}

// lookupPort finds the port entry and the XSKMAP slot, and steers frames of
// device ports.
func lookupPort(portsFD int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(regCtx, asm.R1).WithSymbol(programName),
		asm.LoadMem(asm.R1, regCtx, xdpMDIngressIfindex, asm.Word),
		asm.StoreMem(asm.RFP, stackIfindex, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, portsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackIfindex),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Imm(regReason, counterNoPort),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Mov.Reg(regPort, asm.R0),

		// The queue must have a slot: rx_queue_index < queues.
		asm.LoadMem(regSlot, regCtx, xdpMDRxQueueIndex, asm.Word),
		asm.LoadMem(asm.R1, regPort, portOffQueues, asm.Word),
		asm.Mov.Imm(regReason, counterQueueOutOfRange),
		asm.JGE.Reg(regSlot, asm.R1, "pass"),
		// Both are 32-bit values and SetPort keeps base+queues within the
		// map, so the 64-bit sum is the slot.
		asm.LoadMem(asm.R1, regPort, portOffBase, asm.Word),
		asm.Add.Reg(regSlot, asm.R1),

		asm.LoadMem(asm.R1, regPort, portOffKind, asm.Word),
		asm.JEq.Imm(asm.R1, int32(KindDevice), "steer"),
		// SetPort writes only valid kinds, so another kind means a foreign
		// writer. The frame is treated as having no entry.
		asm.Mov.Imm(regReason, counterNoPort),
		asm.JNE.Imm(asm.R1, int32(KindUnderlay), "pass"),
	}
}

// underlayHeaders checks the Ethernet and IPv4 headers of a frame on an
// underlay port and loads the IPv4 header length, protocol and port flags.
// Fragments jump to "fragment".
func underlayHeaders() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(regData, regCtx, xdpMDData, asm.Word),
		asm.LoadMem(regDataEnd, regCtx, xdpMDDataEnd, asm.Word),

		// Ethernet header.
		asm.Mov.Imm(regReason, counterTruncated),
		asm.Mov.Reg(asm.R1, regData),
		asm.Add.Imm(asm.R1, ethHeaderLen),
		asm.JGT.Reg(asm.R1, regDataEnd, "pass"),
		asm.LoadMem(asm.R1, regData, ethOffType, asm.Half),
		asm.Mov.Imm(regReason, counterNotIPv4),
		asm.JNE.Imm(asm.R1, wire16(ethTypeIPv4), "pass"),

		// Fixed part of the IPv4 header.
		asm.Mov.Imm(regReason, counterTruncated),
		asm.Mov.Reg(asm.R1, regData),
		asm.Add.Imm(asm.R1, ethHeaderLen+ipv4MinLen),
		asm.JGT.Reg(asm.R1, regDataEnd, "pass"),
		asm.LoadMem(regIHL, regData, ipv4OffVerIHL, asm.Byte),
		asm.Mov.Reg(asm.R1, regIHL),
		asm.RSh.Imm(asm.R1, 4),
		asm.Mov.Imm(regReason, counterMalformed),
		asm.JNE.Imm(asm.R1, 4, "pass"),
		// The masks and the shift leave the verifier a header length
		// between 20 and 60 bytes, which bounds the UDP header offset.
		asm.And.Imm(regIHL, 0x0f),
		asm.JLT.Imm(regIHL, 5, "pass"),
		asm.LSh.Imm(regIHL, 2),

		asm.LoadMem(regProto, regData, ipv4OffProto, asm.Byte),
		asm.LoadMem(regFlags, regPort, portOffFlags, asm.Word),
		asm.LoadMem(asm.R1, regData, ipv4OffFrag, asm.Half),
		asm.JSet.Imm(asm.R1, wire16(ipv4FragMask), "fragment"),
	}
}

// underlayProtocols decides on an unfragmented IPv4 packet.
func underlayProtocols() asm.Instructions {
	return asm.Instructions{
		asm.JEq.Imm(regProto, ipProtoUDP, "udp"),
		asm.JEq.Imm(regProto, ipProtoEtherIP, "etherip"),
		asm.JEq.Imm(regProto, ipProtoESP, "esp"),
		asm.Mov.Imm(regReason, counterNotVnet),
		asm.Ja.Label("pass"),

		// UDP: the header starts after the IPv4 options, so its offset is
		// variable. R1 points at it once the bounds check has passed.
		asm.Mov.Reg(asm.R1, regData).WithSymbol("udp"),
		asm.Add.Reg(asm.R1, regIHL),
		asm.Mov.Reg(asm.R4, asm.R1),
		asm.Add.Imm(asm.R4, ethHeaderLen+udpOffDstPort+2),
		asm.Mov.Imm(regReason, counterTruncated),
		asm.JGT.Reg(asm.R4, regDataEnd, "pass"),
		asm.LoadMem(asm.R4, asm.R1, ethHeaderLen+udpOffDstPort, asm.Half),
		asm.LoadMem(asm.R5, regPort, portOffUDPPort, asm.Half),
		asm.Mov.Imm(regReason, counterNotVnet),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
		asm.Ja.Label("steer"),

		asm.Mov.Imm(regReason, counterEtherIP).WithSymbol("etherip"),
		asm.JSet.Imm(regFlags, int32(FlagEtherIP), "steer"),
		asm.Ja.Label("pass"),

		asm.Mov.Imm(regReason, counterESP).WithSymbol("esp"),
		asm.JSet.Imm(regFlags, int32(FlagESP), "steer"),
		asm.Ja.Label("pass"),
	}
}

// underlayFragments decides on an IPv4 fragment. Only the first fragment
// of a UDP datagram has the UDP header: a first fragment to the port is
// recorded in the frags map and steered, and a later fragment is steered
// when its datagram was recorded. EtherIP and ESP fragments follow their
// flags.
func underlayFragments(fragsFD int) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(regReason, counterFragment).WithSymbol("fragment"),
		asm.JSet.Imm(regFlags, int32(FlagFragments), "fragment_steerable"),
		asm.Ja.Label("pass"),
		asm.JEq.Imm(regProto, ipProtoUDP, "fragment_udp").WithSymbol("fragment_steerable"),
		asm.JNE.Imm(regProto, ipProtoEtherIP, "fragment_esp"),
		asm.JSet.Imm(regFlags, int32(FlagEtherIP), "steer"),
		asm.Ja.Label("pass"),
		asm.JNE.Imm(regProto, ipProtoESP, "pass").WithSymbol("fragment_esp"),
		asm.JSet.Imm(regFlags, int32(FlagESP), "steer"),
		asm.Ja.Label("pass"),

		// The key names the datagram: source, destination, identification
		// and protocol, as IPv4 reassembly does (RFC 791).
		asm.LoadMem(asm.R1, regData, ipv4OffSrc, asm.Word).WithSymbol("fragment_udp"),
		asm.StoreMem(asm.RFP, stackFragKey, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, regData, ipv4OffDst, asm.Word),
		asm.StoreMem(asm.RFP, stackFragKey+4, asm.R1, asm.Word),
		asm.LoadMem(asm.R1, regData, ipv4OffID, asm.Half),
		asm.StoreMem(asm.RFP, stackFragKey+8, asm.R1, asm.Half),
		asm.StoreImm(asm.RFP, stackFragKey+10, ipProtoUDP, asm.Byte),
		asm.StoreImm(asm.RFP, stackFragKey+11, 0, asm.Byte),
		asm.LoadMem(asm.R1, regData, ipv4OffFrag, asm.Half),
		asm.JSet.Imm(asm.R1, wire16(ipv4OffsetMask), "fragment_later"),

		// A first fragment carries the UDP header.
		asm.Mov.Reg(asm.R1, regData),
		asm.Add.Reg(asm.R1, regIHL),
		asm.Mov.Reg(asm.R4, asm.R1),
		asm.Add.Imm(asm.R4, ethHeaderLen+udpOffDstPort+2),
		asm.Mov.Imm(regReason, counterTruncated),
		asm.JGT.Reg(asm.R4, regDataEnd, "pass"),
		asm.LoadMem(asm.R4, asm.R1, ethHeaderLen+udpOffDstPort, asm.Half),
		asm.LoadMem(asm.R5, regPort, portOffUDPPort, asm.Half),
		asm.Mov.Imm(regReason, counterFragment),
		asm.JNE.Reg(asm.R4, asm.R5, "pass"),
		asm.StoreImm(asm.RFP, stackFragVal, 1, asm.Word),
		asm.LoadMapPtr(asm.R1, fragsFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackFragKey),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, stackFragVal),
		asm.Mov.Imm(asm.R4, bpfAny),
		asm.FnMapUpdateElem.Call(),
		asm.Ja.Label("steer"),

		asm.LoadMapPtr(asm.R1, fragsFD).WithSymbol("fragment_later"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackFragKey),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Imm(regReason, counterFragment),
		asm.JEq.Imm(asm.R0, 0, "pass"),
		asm.Ja.Label("steer"),
	}
}

// steer counts the frame as steered and redirects it to XSKMAP slot
// regSlot, with XDP_PASS as the action when the slot is empty.
func steer(xsksFD, countersFD int) asm.Instructions {
	insns := asm.Instructions{
		asm.StoreImm(asm.RFP, stackCounter, counterSteered, asm.Word).WithSymbol("steer"),
	}
	insns = append(insns, increment(countersFD, "redirect")...)
	insns = append(insns,
		asm.LoadMapPtr(asm.R1, xsksFD).WithSymbol("redirect"),
		asm.Mov.Reg(asm.R2, regSlot),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
	)
	return insns
}

// pass counts the reason in regReason and counterPassed, and returns
// XDP_PASS.
func pass(countersFD int) asm.Instructions {
	insns := asm.Instructions{
		asm.StoreMem(asm.RFP, stackCounter, regReason, asm.Word).WithSymbol("pass"),
	}
	insns = append(insns, increment(countersFD, "pass_total")...)
	insns = append(insns, asm.StoreImm(asm.RFP, stackCounter, counterPassed, asm.Word).WithSymbol("pass_total"))
	insns = append(insns, increment(countersFD, "pass_return")...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass_return"),
		asm.Return(),
	)
	return insns
}

// increment adds one to the counter whose index is at stackCounter, then
// continues at label next.
func increment(countersFD int, next string) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, countersFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, stackCounter),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
	}
}
