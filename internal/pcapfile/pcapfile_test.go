package pcapfile

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

const capturePath = "../../overlay/testdata/xen-vnetd-two-hosts.pcap"

func TestReaderCapture(t *testing.T) {
	f, err := os.Open(capturePath)
	if err != nil {
		t.Fatalf("open capture: %v", err)
	}
	defer f.Close()

	r, err := NewReader(f)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	if got := r.LinkType(); got != LinkTypeEthernet {
		t.Errorf("LinkType() = %d, want %d", got, LinkTypeEthernet)
	}
	if got := r.SnapLen(); got != 262144 {
		t.Errorf("SnapLen() = %d, want 262144", got)
	}
	if r.Nanosecond() {
		t.Errorf("Nanosecond() = true, want false")
	}

	var recs []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(recs), err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 34 {
		t.Fatalf("read %d records, want 34", len(recs))
	}

	// Values as tshark and capinfos show them.
	first := recs[0]
	wantTime := time.Date(2026, 12, 4, 19, 31, 52, 868710000, time.UTC)
	if !first.Time.Equal(wantTime) {
		t.Errorf("record 1 Time = %v, want %v", first.Time, wantTime)
	}
	if len(first.Data) != 54 || first.OrigLen != 54 {
		t.Errorf("record 1 lengths = %d/%d, want 54/54", len(first.Data), first.OrigLen)
	}
	wantPrefix, _ := hex.DecodeString("01005e0000162a8c92d09d18")
	if !bytes.HasPrefix(first.Data, wantPrefix) {
		t.Errorf("record 1 Data = %x, want prefix %x", first.Data[:12], wantPrefix)
	}
	last := recs[33]
	wantLast := time.Date(2026, 12, 4, 19, 33, 11, 548333000, time.UTC)
	if !last.Time.Equal(wantLast) {
		t.Errorf("record 34 Time = %v, want %v", last.Time, wantLast)
	}
	if len(last.Data) != 66 {
		t.Errorf("record 34 length = %d, want 66", len(last.Data))
	}

	// Records own their data.
	if &recs[0].Data[0] == &recs[1].Data[0] {
		t.Errorf("records 1 and 2 share a data buffer")
	}
}

// fileHeader builds a pcap file header in the given byte order.
func fileHeader(order binary.ByteOrder, magic uint32, major, minor uint16, snaplen, linkType uint32) []byte {
	h := make([]byte, 24)
	order.PutUint32(h[0:4], magic)
	order.PutUint16(h[4:6], major)
	order.PutUint16(h[6:8], minor)
	order.PutUint32(h[16:20], snaplen)
	order.PutUint32(h[20:24], linkType)
	return h
}

func recordHeader(order binary.ByteOrder, sec, frac, capLen, origLen uint32) []byte {
	h := make([]byte, 16)
	order.PutUint32(h[0:4], sec)
	order.PutUint32(h[4:8], frac)
	order.PutUint32(h[8:12], capLen)
	order.PutUint32(h[12:16], origLen)
	return h
}

func TestReaderVariants(t *testing.T) {
	data := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	tests := []struct {
		name     string
		order    binary.ByteOrder
		magic    uint32
		frac     uint32
		wantNano bool
		wantTime time.Time
	}{
		{"microseconds little-endian", binary.LittleEndian, 0xa1b2c3d4, 123456, false, time.Unix(1700000000, 123456000).UTC()},
		{"microseconds big-endian", binary.BigEndian, 0xa1b2c3d4, 123456, false, time.Unix(1700000000, 123456000).UTC()},
		{"nanoseconds little-endian", binary.LittleEndian, 0xa1b23c4d, 123456789, true, time.Unix(1700000000, 123456789).UTC()},
		{"nanoseconds big-endian", binary.BigEndian, 0xa1b23c4d, 123456789, true, time.Unix(1700000000, 123456789).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var file []byte
			file = append(file, fileHeader(tt.order, tt.magic, 2, 4, 65535, 0x0400_0001)...)
			file = append(file, recordHeader(tt.order, 1700000000, tt.frac, uint32(len(data)), 60)...)
			file = append(file, data...)

			r, err := NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			if got := r.Nanosecond(); got != tt.wantNano {
				t.Errorf("Nanosecond() = %v, want %v", got, tt.wantNano)
			}
			if got := r.LinkType(); got != 1 {
				t.Errorf("LinkType() = %#x, want 1 (FCS bits masked)", got)
			}
			if got := r.SnapLen(); got != 65535 {
				t.Errorf("SnapLen() = %d, want 65535", got)
			}
			rec, err := r.Next()
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if !rec.Time.Equal(tt.wantTime) {
				t.Errorf("Time = %v, want %v", rec.Time, tt.wantTime)
			}
			if !bytes.Equal(rec.Data, data) {
				t.Errorf("Data = %x, want %x", rec.Data, data)
			}
			if rec.OrigLen != 60 {
				t.Errorf("OrigLen = %d, want 60", rec.OrigLen)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next at end = %v, want io.EOF", err)
			}
		})
	}
}

func TestNewReaderErrors(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name    string
		file    []byte
		wantErr string
		wantIs  error
	}{
		{"empty", nil, "read pcap file header", io.ErrUnexpectedEOF},
		{"short header", fileHeader(le, 0xa1b2c3d4, 2, 4, 65535, 1)[:20], "read pcap file header", io.ErrUnexpectedEOF},
		{"pcapng magic", fileHeader(le, 0x0a0d0d0a, 2, 4, 65535, 1), "unknown magic number", nil},
		{"modified pcap magic", fileHeader(le, 0xa1b2cd34, 2, 4, 65535, 1), "unknown magic number", nil},
		{"version 1", fileHeader(le, 0xa1b2c3d4, 1, 0, 65535, 1), "unsupported version 1.0", nil},
		{"version 3", fileHeader(le, 0xa1b2c3d4, 3, 0, 65535, 1), "unsupported version 3.0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.file))
			if err == nil {
				t.Fatalf("NewReader(%x) = nil error, want %q", tt.file, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewReader(%x) error = %q, want it to contain %q", tt.file, err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("NewReader(%x) error = %v, want it to wrap %v", tt.file, err, tt.wantIs)
			}
		})
	}
}

func TestNextErrors(t *testing.T) {
	le := binary.LittleEndian
	head := fileHeader(le, 0xa1b2c3d4, 2, 4, 65535, 1)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		file    []byte
		wantErr string
		wantIs  error
	}{
		{"truncated record header", cat(head, recordHeader(le, 1, 0, 4, 4)[:10]), "read pcap record header", io.ErrUnexpectedEOF},
		{"truncated record data", cat(head, recordHeader(le, 1, 0, 4, 4), []byte{1, 2}), "read pcap record data of 4 bytes", io.ErrUnexpectedEOF},
		{"captured length too large", cat(head, recordHeader(le, 1, 0, MaxRecordLen+1, MaxRecordLen+1)), "exceeds the maximum", nil},
		{"captured length all ones", cat(head, recordHeader(le, 1, 0, 0xffffffff, 0)), "exceeds the maximum", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			_, err = r.Next()
			if err == nil || err == io.EOF {
				t.Fatalf("Next() error = %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Next() error = %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Next() error = %v, want it to wrap %v", err, tt.wantIs)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("second Next() error = %v, want the same %v", again, err)
			}
		})
	}
}

func TestRecordAtMaxLen(t *testing.T) {
	le := binary.LittleEndian
	file := fileHeader(le, 0xa1b2c3d4, 2, 4, MaxRecordLen, 1)
	file = append(file, recordHeader(le, 1, 0, MaxRecordLen, MaxRecordLen)...)
	file = append(file, make([]byte, MaxRecordLen)...)
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if len(rec.Data) != MaxRecordLen {
		t.Errorf("len(Data) = %d, want %d", len(rec.Data), MaxRecordLen)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	type rec struct {
		t       time.Time
		data    []byte
		origLen int
	}
	recs := []rec{
		{time.Unix(0, 0), []byte{}, 0},
		{time.Unix(1700000000, 999999999), []byte{1, 2, 3}, 3},
		{time.Unix(1<<32-1, 1000), bytes.Repeat([]byte{0xab}, 1514), 1514},
		{time.Unix(1800000000, 5000), bytes.Repeat([]byte{0xcd}, 100), 9000}, // truncated before
	}
	for _, nano := range []bool{false, true} {
		var buf bytes.Buffer
		newW := NewWriter
		if nano {
			newW = NewNanosecondWriter
		}
		w, err := newW(&buf, LinkTypeEthernet, 2000)
		if err != nil {
			t.Fatalf("new writer (nano %v): %v", nano, err)
		}
		for _, r := range recs {
			if err := w.Write(r.t, r.data, r.origLen); err != nil {
				t.Fatalf("Write(%v, %d bytes, %d): %v", r.t, len(r.data), r.origLen, err)
			}
		}

		rd, err := NewReader(&buf)
		if err != nil {
			t.Fatalf("NewReader (nano %v): %v", nano, err)
		}
		if rd.Nanosecond() != nano {
			t.Errorf("Nanosecond() = %v, want %v", rd.Nanosecond(), nano)
		}
		if rd.LinkType() != LinkTypeEthernet || rd.SnapLen() != 2000 {
			t.Errorf("LinkType, SnapLen = %d, %d, want 1, 2000", rd.LinkType(), rd.SnapLen())
		}
		for i, want := range recs {
			got, err := rd.Next()
			if err != nil {
				t.Fatalf("Next %d (nano %v): %v", i, nano, err)
			}
			wantTime := want.t.UTC()
			if !nano {
				wantTime = wantTime.Truncate(time.Microsecond)
			}
			if !got.Time.Equal(wantTime) {
				t.Errorf("record %d (nano %v) Time = %v, want %v", i, nano, got.Time, wantTime)
			}
			if !bytes.Equal(got.Data, want.data) {
				t.Errorf("record %d (nano %v) Data = %x, want %x", i, nano, got.Data, want.data)
			}
			if got.OrigLen != want.origLen {
				t.Errorf("record %d (nano %v) OrigLen = %d, want %d", i, nano, got.OrigLen, want.origLen)
			}
		}
		if _, err := rd.Next(); err != io.EOF {
			t.Errorf("Next at end (nano %v) = %v, want io.EOF", nano, err)
		}
	}
}

func TestWriterSnapLen(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkTypeEthernet, 64)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	data := bytes.Repeat([]byte{7}, 100)
	if err := w.Write(time.Unix(1, 0), data, len(data)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if len(rec.Data) != 64 {
		t.Errorf("len(Data) = %d, want 64 (the snapshot length)", len(rec.Data))
	}
	if rec.OrigLen != 100 {
		t.Errorf("OrigLen = %d, want 100", rec.OrigLen)
	}
}

func TestWriterHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, LinkTypeEthernet, 262144); err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	// The header tcpdump writes on a little-endian host.
	want, _ := hex.DecodeString("d4c3b2a1" + "02000400" + "00000000" + "00000000" + "00000400" + "01000000")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("file header = %x, want %x", buf.Bytes(), want)
	}
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(io.Discard, LinkTypeEthernet, 0); err == nil || !strings.Contains(err.Error(), "invalid snapshot length 0") {
		t.Errorf("NewWriter(snaplen 0) error = %v, want invalid snapshot length", err)
	}
	if _, err := NewWriter(io.Discard, LinkTypeEthernet, MaxRecordLen+1); err == nil {
		t.Errorf("NewWriter(snaplen %d) error = nil, want invalid snapshot length", MaxRecordLen+1)
	}

	w, err := NewWriter(io.Discard, LinkTypeEthernet, 1500)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	tests := []struct {
		name    string
		t       time.Time
		data    []byte
		origLen int
		wantErr string
	}{
		{"original length below data", time.Unix(1, 0), []byte{1, 2, 3}, 2, "invalid original length 2"},
		{"original length negative", time.Unix(1, 0), nil, -1, "invalid original length -1"},
		{"original length above 32 bits", time.Unix(1, 0), nil, 1 << 32, "invalid original length"},
		{"time before 1970", time.Unix(-1, 0), nil, 0, "invalid time"},
		{"time after 2106", time.Unix(1<<32, 0), nil, 0, "invalid time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Write(tt.t, tt.data, tt.origLen)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Write(%v, %x, %d) error = %v, want %q", tt.t, tt.data, tt.origLen, err, tt.wantErr)
			}
		})
	}
}

type failingWriter struct {
	n   int // successful writes left
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

func TestWriterWriteError(t *testing.T) {
	errDisk := errors.New("disk full")

	if _, err := NewWriter(&failingWriter{n: 0, err: errDisk}, LinkTypeEthernet, 100); !errors.Is(err, errDisk) {
		t.Errorf("NewWriter on failing writer error = %v, want it to wrap %v", err, errDisk)
	}

	w, err := NewWriter(&failingWriter{n: 3, err: errDisk}, LinkTypeEthernet, 100)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	if err := w.Write(time.Unix(1, 0), []byte{1}, 1); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	err = w.Write(time.Unix(1, 0), []byte{1}, 1)
	if !errors.Is(err, errDisk) {
		t.Fatalf("second Write error = %v, want it to wrap %v", err, errDisk)
	}
	if again := w.Write(time.Unix(1, 0), []byte{1}, 1); again != err {
		t.Errorf("Write after error = %v, want the same %v", again, err)
	}
}

func FuzzReader(f *testing.F) {
	if capture, err := os.ReadFile(capturePath); err == nil {
		f.Add(capture)
	}
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(append(fileHeader(le, 0xa1b2c3d4, 2, 4, 100, 1), recordHeader(le, 1, 2, 3, 4)...))
	f.Add(append(fileHeader(be, 0xa1b23c4d, 2, 4, 100, 1), append(recordHeader(be, 1, 2, 1, 1), 9)...))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			return
		}
		// Every record takes at least 16 bytes, which bounds the loop.
		for i := 0; i <= len(file)/16; i++ {
			rec, err := r.Next()
			if err != nil {
				return
			}
			if len(rec.Data) > MaxRecordLen {
				t.Fatalf("record of %d bytes exceeds MaxRecordLen", len(rec.Data))
			}
		}
		t.Fatalf("Next returned more records than the %d-byte file can hold", len(file))
	})
}
