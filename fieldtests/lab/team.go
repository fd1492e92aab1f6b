package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// Team is an incident CA made with `meshcomm ca init`, from which nodes are enrolled.
type Team struct {
	Name string
	Dir  string // the CA directory
	c    *Cluster
}

// NewTeam creates a team CA under the cluster's root with `meshcomm ca init`.
func (c *Cluster) NewTeam(name string) (*Team, error) {
	t := &Team{Name: name, Dir: filepath.Join(c.cfg.Root, "ca-"+name), c: c}
	if _, err := c.MustCLI("ca", "init", "--team", name, "--dir", t.Dir); err != nil {
		return nil, err
	}
	return t, nil
}

// CACert is the team CA's certificate file, what another team passes to `meshcomm trust add`.
func (t *Team) CACert() string { return filepath.Join(t.Dir, "ca.pem") }

// AoR is the address of record of extension ext in this team.
func (t *Team) AoR(ext string) string { return "sip:" + ext + "@" + t.Name }

// Enroll issues a bundle for ext (`meshcomm ca issue`) and installs it in node n's data
// directory (`meshcomm enroll`), as a team lead would before handing out laptops. Node n's data
// directory must hold no identity yet.
func (t *Team) Enroll(n int, ext string) error {
	dir := filepath.Join(t.c.cfg.Root, "bundles")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	bundle := filepath.Join(dir, fmt.Sprintf("%s-%s.pem", t.Name, ext))
	if _, err := t.c.MustCLI("ca", "issue", "--dir", t.Dir, "--ext", ext, "--name", "Responder "+ext,
		"--role", "firefighter", "--out", bundle); err != nil {
		return err
	}
	_, err := t.c.MustCLI("enroll", bundle, "--data", t.c.DataDir(n))
	return err
}

// Trust makes node n trust team t's CA (`meshcomm trust add`; with no daemon running it is
// written into the data directory, with one running the daemon trusts it at once).
func (c *Cluster) Trust(n int, t *Team) error {
	_, err := c.MustCLI("trust", "add", t.CACert(), "--data", c.DataDir(n))
	return err
}
