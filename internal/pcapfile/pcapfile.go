// Package pcapfile reads and writes classic libpcap capture files: a 24-byte
// file header, then records of a 16-byte header and the captured bytes.
// Both the microsecond (magic 0xa1b2c3d4) and the nanosecond (0xa1b23c4d)
// variants are read in either byte order. The format is described in the
// pcap-savefile(5) manual page of libpcap and in the IETF draft "PCAP Capture
// File Format" (draft-ietf-opsawg-pcap). The pcapng format is not supported.
package pcapfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// LinkTypeEthernet is the link type of Ethernet frames without FCS
// (LINKTYPE_ETHERNET in the tcpdump.org link-layer header type list).
const LinkTypeEthernet = 1

// MaxRecordLen is the largest captured length that Reader accepts and the
// largest snapshot length that Writer writes. It is libpcap's maximum
// snapshot length for most link types (MAXIMUM_SNAPLEN), and it bounds the
// memory that one record of a corrupt or hostile file can claim.
const MaxRecordLen = 262144

const (
	magicMicroseconds = 0xa1b2c3d4
	magicNanoseconds  = 0xa1b23c4d
	fileHeaderLen     = 24
	recordHeaderLen   = 16
	versionMajor      = 2
	versionMinor      = 4
)

// Record is one captured packet.
type Record struct {
	// Time is the capture time, in UTC.
	Time time.Time
	// Data is the captured bytes, at most the snapshot length of the
	// capture. Each record has its own slice.
	Data []byte
	// OrigLen is the length of the packet on the wire, which exceeds
	// len(Data) when the capture truncated it. It is taken from the file as
	// it is, so a malformed file can give a value below len(Data).
	OrigLen int
}

// Reader reads records from a pcap file.
type Reader struct {
	r        io.Reader
	order    binary.ByteOrder
	nano     bool
	snaplen  uint32
	linkType uint32
	err      error
	hdr      [recordHeaderLen]byte
}

// NewReader reads the file header from r and returns a Reader positioned at
// the first record.
func NewReader(r io.Reader) (*Reader, error) {
	var h [fileHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read pcap file header: %w", err)
	}

	rd := &Reader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[0:4]) == magicMicroseconds:
		rd.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[0:4]) == magicMicroseconds:
		rd.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[0:4]) == magicNanoseconds:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[0:4]) == magicNanoseconds:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("read pcap file header: unknown magic number %x (not a classic pcap file, so convert a pcapng file with editcap -F pcap)", h[0:4])
	}

	major := rd.order.Uint16(h[4:6])
	minor := rd.order.Uint16(h[6:8])
	if major != versionMajor {
		return nil, fmt.Errorf("read pcap file header: unsupported version %d.%d (only version 2.x is supported)", major, minor)
	}
	// Bytes 8 to 15 were a time zone offset and a timestamp accuracy,
	// which writers set to 0 and readers ignore.
	rd.snaplen = rd.order.Uint32(h[16:20])
	rd.linkType = rd.order.Uint32(h[20:24])
	return rd, nil
}

// LinkType returns the link-layer header type of the records, such as
// LinkTypeEthernet. The upper 16 bits of the file's field, which can carry
// FCS information, are not part of it.
func (r *Reader) LinkType() uint32 { return r.linkType & 0xffff }

// SnapLen returns the snapshot length from the file header.
func (r *Reader) SnapLen() uint32 { return r.snaplen }

// Nanosecond reports whether the file stores timestamps in nanoseconds
// rather than microseconds.
func (r *Reader) Nanosecond() bool { return r.nano }

// Next reads the next record. It returns io.EOF after the last record, and
// an error wrapping io.ErrUnexpectedEOF when the file ends inside a record.
// After any error, Next returns the same error again.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
	}
	return rec, err
}

func (r *Reader) next() (Record, error) {
	n, err := io.ReadFull(r.r, r.hdr[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return Record{}, io.EOF
	case err != nil:
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Record{}, fmt.Errorf("read pcap record header: %w", err)
	}

	sec := r.order.Uint32(r.hdr[0:4])
	frac := r.order.Uint32(r.hdr[4:8])
	capLen := r.order.Uint32(r.hdr[8:12])
	origLen := r.order.Uint32(r.hdr[12:16])
	if capLen > MaxRecordLen {
		return Record{}, fmt.Errorf("read pcap record: captured length %d exceeds the maximum of %d (the file is corrupt)", capLen, MaxRecordLen)
	}

	data := make([]byte, capLen)
	if _, err := io.ReadFull(r.r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Record{}, fmt.Errorf("read pcap record data of %d bytes: %w", capLen, err)
	}

	nsec := int64(frac)
	if !r.nano {
		nsec *= 1000
	}
	return Record{
		Time:    time.Unix(int64(sec), nsec).UTC(),
		Data:    data,
		OrigLen: int(origLen),
	}, nil
}

// Writer writes records to a pcap file in little-endian byte order.
type Writer struct {
	w       io.Writer
	nano    bool
	snaplen uint32
	err     error
	hdr     [recordHeaderLen]byte
}

// NewWriter writes the header of a pcap file with microsecond timestamps to
// w and returns a Writer for its records. Records longer than snaplen are
// truncated to snaplen bytes, which must be between 1 and MaxRecordLen.
func NewWriter(w io.Writer, linkType uint32, snaplen uint32) (*Writer, error) {
	return newWriter(w, linkType, snaplen, false)
}

// NewNanosecondWriter is NewWriter for a file with nanosecond timestamps
// (magic 0xa1b23c4d), which not every tool reads.
func NewNanosecondWriter(w io.Writer, linkType uint32, snaplen uint32) (*Writer, error) {
	return newWriter(w, linkType, snaplen, true)
}

func newWriter(w io.Writer, linkType, snaplen uint32, nano bool) (*Writer, error) {
	if snaplen == 0 || snaplen > MaxRecordLen {
		return nil, fmt.Errorf("create pcap writer: invalid snapshot length %d (use 1 to %d)", snaplen, MaxRecordLen)
	}
	magic := uint32(magicMicroseconds)
	if nano {
		magic = magicNanoseconds
	}
	var h [fileHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:4], magic)
	binary.LittleEndian.PutUint16(h[4:6], versionMajor)
	binary.LittleEndian.PutUint16(h[6:8], versionMinor)
	binary.LittleEndian.PutUint32(h[16:20], snaplen)
	binary.LittleEndian.PutUint32(h[20:24], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("write pcap file header: %w", err)
	}
	return &Writer{w: w, nano: nano, snaplen: snaplen}, nil
}

// Write writes one record with capture time t, the captured bytes data and
// the length origLen of the packet on the wire. Data beyond the snapshot
// length is not written. The time must lie between 1970 and 2106, the range
// of the 32-bit seconds field. After a write error, Write returns that error
// again.
func (w *Writer) Write(t time.Time, data []byte, origLen int) error {
	if w.err != nil {
		return w.err
	}
	if origLen < len(data) || int64(origLen) > math.MaxUint32 {
		return fmt.Errorf("write pcap record: invalid original length %d for %d captured bytes (use at least the captured length)", origLen, len(data))
	}
	sec := t.Unix()
	if sec < 0 || sec > math.MaxUint32 {
		return fmt.Errorf("write pcap record: invalid time %v (use a time between 1970 and 2106, the range of the pcap seconds field)", t)
	}
	frac := uint32(t.Nanosecond())
	if !w.nano {
		frac /= 1000
	}
	if uint64(len(data)) > uint64(w.snaplen) {
		data = data[:w.snaplen]
	}

	binary.LittleEndian.PutUint32(w.hdr[0:4], uint32(sec))
	binary.LittleEndian.PutUint32(w.hdr[4:8], frac)
	binary.LittleEndian.PutUint32(w.hdr[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.hdr[12:16], uint32(origLen))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		w.err = fmt.Errorf("write pcap record header: %w", err)
		return w.err
	}
	if _, err := w.w.Write(data); err != nil {
		w.err = fmt.Errorf("write pcap record data: %w", err)
		return w.err
	}
	return nil
}
