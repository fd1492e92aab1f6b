package identity

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"meshcomm/mesh"
)

func TestCAInitIssueEnrollLoadRoundTrip(t *testing.T) {
	ca, caDir := newCADir(t, "Fire-B")
	if ca.Team() != "fire-b" {
		t.Fatalf("team = %q, want canonical fire-b", ca.Team())
	}
	if m := fileMode(t, filepath.Join(caDir, caKeyFile)); m != 0o600 {
		t.Errorf("ca.key mode %o, want 600", m)
	}
	if _, err := CreateCA("fire-b", caDir, t0); !errors.Is(err, ErrCAExists) {
		t.Errorf("second CreateCA in the same dir: %v, want ErrCAExists", err)
	}

	bundle, err := Issue(caDir, "101", "Ana Lima", "Medic", t0)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bundlePath := filepath.Join(tmp, "101.bundle")
	if err := WriteBundle(bundlePath, bundle); err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, bundlePath); m != 0o600 {
		t.Errorf("bundle mode %o, want 600", m)
	}
	if err := WriteBundle(bundlePath, bundle); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteBundle over an existing file: %v, want ErrExist", err)
	}

	dataDir := filepath.Join(tmp, "data")
	id, err := Enroll(bundlePath, dataDir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, filepath.Join(dataDir, nodeKeyFile)); m != 0o600 {
		t.Errorf("node.key mode %o, want 600", m)
	}
	pub := id.Certificate().PublicKey.(ed25519.PublicKey)
	checks := []struct{ name, got, want string }{
		{"AoR", id.AoR(), "sip:101@fire-b"},
		{"Ext", id.Ext(), "101"},
		{"Team", id.Team(), "fire-b"},
		{"DisplayName", id.DisplayName(), "Ana Lima"},
		{"Role", id.Role(), "medic"},
		{"NodeID", id.NodeID().String(), mesh.NodeIDFromPublicKey(pub).String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := id.MeshIdentity(); got.Name != id.AoR() || got.Node != id.NodeID() || got.Authority {
		t.Errorf("MeshIdentity = %+v", got)
	}
	if id.CAFingerprint() != ca.Fingerprint() {
		t.Errorf("CA fingerprint %s, want %s", id.CAFingerprint(), ca.Fingerprint())
	}

	// The CA is no longer needed: remove it and load again.
	if err := os.RemoveAll(caDir); err != nil {
		t.Fatal(err)
	}
	again, err := LoadWithClock(dataDir, clockAt(t0))
	if err != nil {
		t.Fatal(err)
	}
	if again.NodeID() != id.NodeID() || again.AoR() != id.AoR() {
		t.Errorf("reloaded identity %s %s, want %s %s", again.NodeID(), again.AoR(), id.NodeID(), id.AoR())
	}
	anchors, err := TrustList(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(anchors) != 1 || !anchors[0].Own || anchors[0].Fingerprint != ca.Fingerprint() || anchors[0].Team != "fire-b" {
		t.Errorf("trust list = %+v, want only own team fire-b", anchors)
	}
	if _, err := Enroll(bundlePath, dataDir, t0); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("second Enroll: %v, want ErrAlreadyEnrolled", err)
	}
}

func TestIssueRecordsCertificateInLog(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	id := enrolNode(t, caDir, "7")
	path := filepath.Join(caDir, issuedDir, serialHex(id.Certificate().SerialNumber)+".pem")
	c, err := readOneCert(path)
	if err != nil {
		t.Fatalf("issued log: %v", err)
	}
	if FingerprintOf(c.Raw) != FingerprintOf(id.Certificate().Raw) {
		t.Error("issued log holds a different certificate")
	}
}

func TestReenrollReplacesIdentityKeepsTrust(t *testing.T) {
	caA, caDirA := newCADir(t, "alpha")
	caB, caDirB := newCADir(t, "bravo")
	id := enrolNode(t, caDirA, "1")
	bundle, err := Issue(caDirB, "2", "Two", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.pem")
	if err := WriteBundle(path, bundle); err != nil {
		t.Fatal(err)
	}
	re, err := Reenroll(path, id.DataDir(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if re.AoR() != "sip:2@bravo" || re.Role() != DefaultRole {
		t.Errorf("re-enrolled as %s role %q", re.AoR(), re.Role())
	}
	var teams []string
	for _, a := range re.Verifier().Anchors() {
		teams = append(teams, a.Team)
		if a.Own != (a.Fingerprint == caB.Fingerprint()) {
			t.Errorf("anchor %s Own=%v", a.Team, a.Own)
		}
	}
	if strings.Join(teams, ",") != "alpha,bravo" {
		t.Errorf("anchors %v, want alpha,bravo (old team kept, new team added); alpha is %s", teams, caA.Fingerprint().Short())
	}
}

func TestNamesAreValidated(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	long := strings.Repeat("9", MaxExtLen+1)
	cases := []struct{ ext, display, role string }{
		{"", "Ana", "medic"},
		{long, "Ana", "medic"},
		{"10 1", "Ana", "medic"},
		{"101@x", "Ana", "medic"},
		{"ü1", "Ana", "medic"},
		{"101", "", "medic"},
		{"101", " Ana", "medic"},
		{"101", "Ana\x00", "medic"},
		{"101", strings.Repeat("a", MaxDisplayNameLen+1), "medic"},
		{"101", "Ana", "chief medic"},
		{"101", "Ana", strings.Repeat("r", MaxRoleLen+1)},
	}
	for _, c := range cases {
		if _, err := Issue(caDir, c.ext, c.display, c.role, t0); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Issue(%q, %q, %q) = %v, want ErrInvalidName", c.ext, c.display, c.role, err)
		}
	}
	for _, team := range []string{"", "-fire", "fire-", "fire brigade", "fire.b", strings.Repeat("t", MaxTeamLen+1)} {
		if _, err := NewCA(team, t0); team != "" && !errors.Is(err, ErrInvalidName) {
			t.Errorf("NewCA(%q) = %v, want ErrInvalidName", team, err)
		}
	}
	if _, err := Issue(caDir, "Bob1", "Bob", "", t0); err != nil {
		t.Errorf("valid names refused: %v", err)
	}
}

func TestEnrollRefusesBadBundles(t *testing.T) {
	caA, _ := newCADir(t, "alpha")
	caB, _ := newCADir(t, "bravo")
	good, err := caA.IssueMember("1", "One", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := caB.IssueMember("2", "Two", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(m *Member) []byte {
		b, err := EncodeBundle(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"wrong key":       enc(&Member{Key: other.Key, Cert: good.Cert, CA: good.CA}),
		"wrong CA":        enc(&Member{Key: good.Key, Cert: good.Cert, CA: caB.Cert}),
		"no CA":           append(mustKeyPEM(t, good.Key), encodeCertPEM(good.Cert.Raw)...),
		"garbage":         []byte("not a bundle"),
		"trailing":        append(enc(good), "junk"...),
		"oversized":       append(enc(good), make([]byte, MaxPEMFileBytes)...),
		"two CA, no leaf": append(mustKeyPEM(t, good.Key), encodeCertPEM(caA.Cert.Raw, caB.Cert.Raw)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bundle.pem")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			if _, err := Enroll(path, dataDir, t0); err == nil {
				t.Fatal("bad bundle enrolled")
			}
			if exists(filepath.Join(dataDir, nodeKeyFile)) {
				t.Error("refused bundle left a node key behind")
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bundle.pem")
		if err := WriteBundle(path, enc(good)); err != nil {
			t.Fatal(err)
		}
		if _, err := Enroll(path, t.TempDir(), t0.Add(MemberValidity+ClockSkew)); !errors.Is(err, ErrCertExpired) {
			t.Errorf("Enroll after expiry: %v, want ErrCertExpired", err)
		}
	})
}

func mustKeyPEM(t *testing.T, k ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := encodeKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBootstrapIsIdempotentAndFormsATeam(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "node")
	id, err := Bootstrap(dataDir, "101", t0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id.Team(), "team-") || len(id.Team()) != len("team-")+6 {
		t.Errorf("derived team %q, want team-<6 hex>", id.Team())
	}
	if id.AoR() != "sip:101@"+id.Team() {
		t.Errorf("AoR %q", id.AoR())
	}
	again, err := Bootstrap(dataDir, "101", t0)
	if err != nil {
		t.Fatal(err)
	}
	if again.NodeID() != id.NodeID() {
		t.Error("second Bootstrap made a new identity")
	}
	if _, err := Bootstrap(dataDir, "102", t0); !errors.Is(err, ErrOtherIdentity) {
		t.Errorf("Bootstrap for another extension: %v, want ErrOtherIdentity", err)
	}

	// A second laptop enrolled from the first one's local CA is in the same team.
	ca, err := id.LocalCA()
	if err != nil {
		t.Fatal(err)
	}
	if ca.Team() != id.Team() {
		t.Errorf("local CA team %q, identity team %q", ca.Team(), id.Team())
	}
	peer := enrolNode(t, LocalCADir(dataDir), "102")
	id.Verifier().Now = clockAt(t0)
	if _, err := mesh.VerifyRecord(id.Verifier(), registration(peer, peer.AoR())); err != nil {
		t.Errorf("record from a laptop of the same zero-setup team refused: %v", err)
	}
}

func TestBootstrapChosenTeamAndResume(t *testing.T) {
	dataDir := t.TempDir()
	// A CA left behind by an interrupted first run is reused.
	if _, err := createLocalCA("drill", LocalCADir(dataDir), t0); err != nil {
		t.Fatal(err)
	}
	id, err := BootstrapTeam(dataDir, "Drill", "5", t0)
	if err != nil {
		t.Fatal(err)
	}
	if id.AoR() != "sip:5@drill" {
		t.Errorf("AoR %q", id.AoR())
	}
	if _, err := BootstrapTeam(dataDir, "other", "5", t0); !errors.Is(err, ErrOtherIdentity) {
		t.Errorf("Bootstrap for another team: %v, want ErrOtherIdentity", err)
	}
}

func TestLoadWithoutIdentity(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("Load of an empty dir: %v, want ErrNoIdentity", err)
	}
}
