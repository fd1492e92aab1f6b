package identity

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrOtherIdentity is returned by Bootstrap when the data directory already holds an identity
// for another extension.
var ErrOtherIdentity = errors.New("data directory holds an identity for another extension")

// Bootstrap is the zero-setup start: when dataDir holds no identity it creates a local team CA
// (team name derived from its key, see DeriveTeamName) in dataDir/ca/ and a member identity for
// ext issued by it; when dataDir already holds an identity for ext it just loads it.
func Bootstrap(dataDir, ext string, now time.Time) (*Identity, error) {
	return BootstrapTeam(dataDir, "", ext, now)
}

// BootstrapTeam is Bootstrap with a chosen team name ("" derives one). The display name is the
// extension and the role DefaultRole; enrol with a bundle for anything richer. It is
// idempotent, and it resumes cleanly after a crash half-way (a CA without a member identity).
func BootstrapTeam(dataDir, team, ext string, now time.Time) (*Identity, error) {
	ext, err := CanonicalExt(ext)
	if err != nil {
		return nil, err
	}
	if team != "" {
		if team, err = CanonicalTeam(team); err != nil {
			return nil, err
		}
	}
	if exists(filepath.Join(dataDir, nodeKeyFile)) {
		id, err := Load(dataDir)
		if err != nil {
			return nil, err
		}
		if id.Ext() != ext || team != "" && id.Team() != team {
			return nil, fmt.Errorf("%w: %s holds %s, asked for extension %s", ErrOtherIdentity, dataDir, id.AoR(), ext)
		}
		return id, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	caDir := LocalCADir(dataDir)
	ca, err := LoadCA(caDir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !exists(caDir):
		if ca, err = createLocalCA(team, caDir, now); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case team != "" && ca.Team() != team:
		return nil, fmt.Errorf("%s holds the CA of team %q, asked for team %q", caDir, ca.Team(), team)
	}
	m, err := ca.IssueMember(ext, ext, DefaultRole, now)
	if err != nil {
		return nil, err
	}
	if err := install(dataDir, m); err != nil {
		return nil, err
	}
	return Load(dataDir)
}

// createLocalCA makes a CA in a temporary directory next to caDir and renames it into place,
// so a crash never leaves half a CA behind.
func createLocalCA(team, caDir string, now time.Time) (*CA, error) {
	ca, err := NewCA(team, now)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(caDir), ".ca-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := ca.save(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, caDir); err != nil {
		return nil, err
	}
	ca.dir = caDir
	return ca, nil
}
