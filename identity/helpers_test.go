package identity

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/mesh"
)

// t0 is the fixed "now" of the tests; every certificate is issued at t0 unless said otherwise.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

// newCADir creates a CA for team in a fresh directory.
func newCADir(t *testing.T, team string) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := CreateCA(team, dir, t0)
	if err != nil {
		t.Fatalf("CreateCA(%q): %v", team, err)
	}
	return ca, dir
}

// enrolNode issues a bundle for ext from the CA in caDir, enrols it into a fresh data dir and
// returns the loaded identity with its verifier's clock at t0.
func enrolNode(t *testing.T, caDir, ext string) *Identity {
	t.Helper()
	bundle, err := Issue(caDir, ext, "User "+ext, "medic", t0)
	if err != nil {
		t.Fatalf("Issue(%s): %v", ext, err)
	}
	tmp := t.TempDir()
	path := filepath.Join(tmp, "bundle.pem")
	if err := WriteBundle(path, bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := Enroll(path, filepath.Join(tmp, "data"), t0); err != nil {
		t.Fatalf("Enroll(%s): %v", ext, err)
	}
	id, err := LoadWithClock(filepath.Join(tmp, "data"), clockAt(t0))
	if err != nil {
		t.Fatalf("Load(%s): %v", ext, err)
	}
	return id
}

// registration is the record a node publishes for its own AoR.
func registration(id *Identity, aor string) *mesh.Record {
	node := id.NodeID()
	r := &mesh.Record{
		Resource: mesh.ResourceIDFor(aor),
		Kind:     mesh.KindRegistration,
		Key:      node[:],
		Value:    []byte("contact"),
		Version:  1,
		Expiry:   t0.Add(time.Hour).UnixMilli(),
	}
	r.Sign(id.Signer())
	return r
}

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func writeCAFile(t *testing.T, ca *CA) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, encodeCertPEM(ca.Cert.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
