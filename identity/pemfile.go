package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxPEMFileBytes bounds every PEM file identity reads (bundles, certificates, keys,
// revocations). Real files are a few kilobytes.
const MaxPEMFileBytes = 64 << 10

// PEM block types.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemRevocation  = "MESHCOMM REVOCATION"
)

// File names inside a data directory and a CA directory.
const (
	nodeKeyFile    = "node.key"
	nodeCertFile   = "node.pem"
	trustDir       = "trust"
	revocationsDir = "revocations"
	localCADir     = "ca"
	caKeyFile      = "ca.key"
	caCertFile     = "ca.pem"
	issuedDir      = "issued"
)

// readBounded reads a whole file, refusing one larger than MaxPEMFileBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPEMFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPEMFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxPEMFileBytes)
	}
	return data, nil
}

// writeFileAtomic writes data to path through a temporary file and a rename, so a crash leaves
// either the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// writeNewFile writes data to path only if nothing is there yet.
func writeNewFile(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists: %w", path, fs.ErrExist)
	}
	return writeFileAtomic(path, data, perm)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func encodeCertPEM(ders ...[]byte) []byte {
	var b bytes.Buffer
	for _, d := range ders {
		pem.Encode(&b, &pem.Block{Type: pemCertificate, Bytes: d})
	}
	return b.Bytes()
}

func encodeKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// pemContents is what a PEM file held: its certificates in order and its private keys.
type pemContents struct {
	certs []*x509.Certificate
	keys  []ed25519.PrivateKey
}

var errNoPEM = errors.New("no PEM data found")

// decodePEM parses every block of data, refusing unknown block types, non-ed25519 keys and
// trailing garbage. The input is bounded by the callers (MaxPEMFileBytes).
func decodePEM(data []byte) (pemContents, error) {
	if len(data) > MaxPEMFileBytes {
		return pemContents{}, fmt.Errorf("PEM data larger than %d bytes", MaxPEMFileBytes)
	}
	var out pemContents
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case pemCertificate:
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return pemContents{}, fmt.Errorf("certificate %d: %w", len(out.certs)+1, err)
			}
			out.certs = append(out.certs, c)
		case pemPrivateKey:
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return pemContents{}, fmt.Errorf("private key: %w", err)
			}
			ek, ok := k.(ed25519.PrivateKey)
			if !ok {
				return pemContents{}, fmt.Errorf("private key is %T, not ed25519", k)
			}
			out.keys = append(out.keys, ek)
		default:
			return pemContents{}, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return pemContents{}, fmt.Errorf("trailing data after the last PEM block")
	}
	if len(out.certs) == 0 && len(out.keys) == 0 {
		return pemContents{}, errNoPEM
	}
	return out, nil
}

// readKeyAndCerts reads a key file and a certificate file.
func readKeyAndCerts(keyPath, certPath string) (ed25519.PrivateKey, []*x509.Certificate, error) {
	kdata, err := readBounded(keyPath)
	if err != nil {
		return nil, nil, err
	}
	kc, err := decodePEM(kdata)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if len(kc.keys) != 1 || len(kc.certs) != 0 {
		return nil, nil, fmt.Errorf("%s: want exactly one private key", keyPath)
	}
	cdata, err := readBounded(certPath)
	if err != nil {
		return nil, nil, err
	}
	cc, err := decodePEM(cdata)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if len(cc.keys) != 0 || len(cc.certs) == 0 {
		return nil, nil, fmt.Errorf("%s: want certificates and no private key", certPath)
	}
	return kc.keys[0], cc.certs, nil
}

// keyMatches reports whether key is the private half of the certificate's public key.
func keyMatches(key ed25519.PrivateKey, c *x509.Certificate) bool {
	pub, ok := c.PublicKey.(ed25519.PublicKey)
	return ok && bytes.Equal(pub, key.Public().(ed25519.PublicKey))
}
