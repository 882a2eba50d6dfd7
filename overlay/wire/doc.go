// Package wire reads and writes the byte formats of the vnet dataplane:
// Ethernet, IPv4 and UDP headers, the vnet message header, the extended
// EtherIP header, VARP and VFWD messages, and Internet checksums.
//
// Header types are views over a []byte, such as IPv4 and UDP. A ParseX
// function checks every length that the view's accessors rely on, so the
// accessors of a parsed view never panic. Views built by conversion
// without ParseX carry no such guarantee. Parse functions, accessors,
// builders and checksum functions allocate nothing, so the data path can
// call them per packet. Builders write into a buffer that the caller
// provides and panic when it is too short, like encoding/binary.
//
// Byte layouts and constants follow the original Xen vnet implementation
// (tools/vnet, 2006 to 2011) and the RFCs named beside each constant.
package wire
