package identity

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"meshcomm/mesh"
)

// Revocation is what a revocation record's value says: which certificate, when and why.
type Revocation struct {
	Cert      *x509.Certificate
	RevokedAt time.Time
	Reason    string
}

// MaxReasonLen bounds a revocation's reason, in bytes.
const MaxReasonLen = 200

// Revocation value, big-endian:
//
//	"mcrv1" | revokedAt (int64, Unix ms) | reasonLen (uint8) | reason (UTF-8) |
//	certLen (uint16) | certificate (DER)
//
// The whole revoked certificate travels, not just its fingerprint, so that every node can check
// that the CA signing the revocation issued it, without any list of issued certificates.
const revocationValueMagic = "mcrv1"

var errRevocationValue = errors.New("revocation value is malformed")

func checkReason(reason string) error {
	if len(reason) > MaxReasonLen || !utf8.ValidString(reason) {
		return fmt.Errorf("reason must be valid UTF-8 of at most %d bytes", MaxReasonLen)
	}
	for _, c := range reason {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("reason holds a non-printable character")
		}
	}
	return nil
}

// EncodeRevocationValue encodes a revocation as a record value.
func EncodeRevocationValue(r *Revocation) ([]byte, error) {
	if err := checkReason(r.Reason); err != nil {
		return nil, err
	}
	if len(r.Cert.Raw) > maxCredentialBytes {
		return nil, fmt.Errorf("certificate of %d bytes is too large to revoke by record", len(r.Cert.Raw))
	}
	b := make([]byte, 0, len(revocationValueMagic)+8+1+len(r.Reason)+2+len(r.Cert.Raw))
	b = append(b, revocationValueMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.RevokedAt.UnixMilli()))
	b = append(b, byte(len(r.Reason)))
	b = append(b, r.Reason...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Cert.Raw)))
	return append(b, r.Cert.Raw...), nil
}

// DecodeRevocationValue decodes a revocation record's value, refusing anything larger than
// mesh.MaxValueBytes, a reason that is not printable UTF-8 and trailing bytes.
func DecodeRevocationValue(b []byte) (*Revocation, error) {
	if len(b) > mesh.MaxValueBytes {
		return nil, fmt.Errorf("%w: %d bytes", errRevocationValue, len(b))
	}
	d := decoder{b: b}
	if string(d.bytes(len(revocationValueMagic))) != revocationValueMagic {
		return nil, fmt.Errorf("%w: bad magic", errRevocationValue)
	}
	at := int64(d.u64())
	reason := string(d.bytes(int(d.u8())))
	der := d.bytes(int(d.u16()))
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", errRevocationValue)
	}
	if err := checkReason(reason); err != nil {
		return nil, fmt.Errorf("%w: %v", errRevocationValue, err)
	}
	if len(der) > maxCredentialBytes {
		return nil, fmt.Errorf("%w: certificate of %d bytes", errRevocationValue, len(der))
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRevocationValue, err)
	}
	return &Revocation{Cert: c, RevokedAt: time.UnixMilli(at), Reason: reason}, nil
}

// A revocation file is one PEM block "MESHCOMM REVOCATION" holding a whole signed record, so a
// revocation can also travel on a USB stick (ImportRevocation) and persists in a data directory:
//
//	"mcrec1" | resource (16) | kind (1) | keyLen (uint8) | key | valueLen (uint32) | value |
//	version (uint64) | expiry (int64) | deleted (uint8) | ownerLen (uint16) | owner |
//	sigLen (uint16) | signature
//
// with every length bounded by the mesh record limits.
const recordFileMagic = "mcrec1"

var errRevocationFile = errors.New("revocation file is malformed")

// EncodeRevocationFile encodes a signed record as a revocation file.
func EncodeRevocationFile(r *mesh.Record) ([]byte, error) {
	if len(r.Key) > mesh.MaxKeyBytes || len(r.Value) > mesh.MaxValueBytes ||
		len(r.Owner) > mesh.MaxCredentialBytes || len(r.Signature) > mesh.MaxSignatureBytes {
		return nil, fmt.Errorf("record exceeds the mesh record limits")
	}
	b := []byte(recordFileMagic)
	b = append(b, r.Resource[:]...)
	b = append(b, byte(r.Kind), byte(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
	b = append(b, r.Value...)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expiry))
	if r.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Owner)))
	b = append(b, r.Owner...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Signature)))
	b = append(b, r.Signature...)
	return pem.EncodeToMemory(&pem.Block{Type: pemRevocation, Bytes: b}), nil
}

// DecodeRevocationFile decodes a revocation file (at most MaxPEMFileBytes). It checks only the
// encoding; (*Verifier).AddRevocation checks the signature and meaning.
func DecodeRevocationFile(data []byte) (*mesh.Record, error) {
	if len(data) > MaxPEMFileBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errRevocationFile, MaxPEMFileBytes)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemRevocation {
		return nil, fmt.Errorf("%w: no %q PEM block", errRevocationFile, pemRevocation)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: trailing data", errRevocationFile)
	}
	d := decoder{b: block.Bytes}
	if string(d.bytes(len(recordFileMagic))) != recordFileMagic {
		return nil, fmt.Errorf("%w: bad magic", errRevocationFile)
	}
	var r mesh.Record
	copy(r.Resource[:], d.bytes(mesh.IDBytes))
	r.Kind = mesh.Kind(d.u8())
	r.Key = d.boundedBytes(int(d.u8()), mesh.MaxKeyBytes)
	r.Value = d.boundedBytes(int(d.u32()), mesh.MaxValueBytes)
	r.Version = d.u64()
	r.Expiry = int64(d.u64())
	switch d.u8() {
	case 0:
	case 1:
		r.Deleted = true
	default:
		d.fail()
	}
	r.Owner = d.boundedBytes(int(d.u16()), mesh.MaxCredentialBytes)
	r.Signature = d.boundedBytes(int(d.u16()), mesh.MaxSignatureBytes)
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: truncated, oversized or trailing bytes", errRevocationFile)
	}
	return &r, nil
}

// decoder reads big-endian fields from a byte slice; after the first short read every read
// returns zero and err is set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errors.New("short or invalid input")
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.fail()
		return nil
	}
	out := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return out
}

func (d *decoder) boundedBytes(n, limit int) []byte {
	if n > limit {
		d.fail()
		return nil
	}
	return d.bytes(n)
}

func (d *decoder) u8() uint8 {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}
