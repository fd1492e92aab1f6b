package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"meshcomm/identity"
	"meshcomm/node"
)

// The second-level commands of each group.
var (
	caVerbs     = map[string]verb{"init": runCAInit, "issue": runCAIssue, "revoke": runCARevoke}
	trustVerbs  = map[string]verb{"add": runTrustAdd, "list": runTrustList}
	revokeVerbs = map[string]verb{"import": runRevokeImport, "publish": runRevokePublish}
)

func init() {
	subcommands["ca"] = subcommand{summary: "team certificate authority: ca init | ca issue | ca revoke",
		run: func(args []string) int { return runVerb("ca", caVerbs, args, os.Stdout, os.Stderr) }}
	subcommands["enroll"] = subcommand{summary: "install an enrolment bundle from the team CA: meshcomm enroll FILE",
		run: func(args []string) int { return runEnroll(args, os.Stdout, os.Stderr) }}
	subcommands["trust"] = subcommand{summary: "trust another team's CA (trust add CA.pem) or list trusted teams (trust list)",
		run: func(args []string) int { return runVerb("trust", trustVerbs, args, os.Stdout, os.Stderr) }}
	subcommands["revoke"] = subcommand{summary: "honour a revocation file (revoke import FILE) or flood it through the mesh (revoke publish FILE)",
		run: func(args []string) int { return runVerb("revoke", revokeVerbs, args, os.Stdout, os.Stderr) }}
}

// verb is one second-level command (`ca init`, `trust add` ...).
type verb func(args []string, stdout, stderr io.Writer) int

// runVerb dispatches `meshcomm GROUP VERB ...`.
func runVerb(group string, verbs map[string]verb, args []string, stdout, stderr io.Writer) int {
	names := make([]string, 0, len(verbs))
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	if len(args) == 0 || verbs[args[0]] == nil {
		if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
			fmt.Fprintf(stderr, "meshcomm %s: unknown command %q\n", group, args[0])
		}
		fmt.Fprintf(stderr, "usage: meshcomm %s %s [flags]   (meshcomm %s VERB -h for its flags)\n", group, strings.Join(names, "|"), group)
		return 2
	}
	return verbs[args[0]](args[1:], stdout, stderr)
}

func runCAInit(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ca init", "ca init --team NAME --dir CADIR", stderr)
	team := fs.String("team", "", "team name: letters, digits and inner hyphens (becomes the host part of sip:EXT@TEAM)")
	dir := fs.String("dir", "", "directory to create the CA in (keep it offline; its ca.key signs every member)")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if *team == "" || *dir == "" {
		fmt.Fprintln(stderr, "meshcomm ca init: --team and --dir are required")
		fs.Usage()
		return 2
	}
	ca, err := identity.CreateCA(*team, *dir, time.Now())
	if err != nil {
		return fail(stderr, "ca init", err)
	}
	fmt.Fprintf(stdout, "CREATED TEAM CA   %s\n  directory     %s\n  fingerprint   %s\n  valid until   %s\n"+
		"Issue members with: meshcomm ca issue --dir %s --ext EXT --name NAME --out EXT.pem\n",
		ca.Team(), *dir, ca.Fingerprint().Grouped(), ca.Cert.NotAfter.Format("2006-01-02"), *dir)
	return 0
}

func runCAIssue(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ca issue", `ca issue --dir CADIR --ext EXT --name "NAME" [--role ROLE] --out FILE`, stderr)
	dir := fs.String("dir", "", "the CA directory (from ca init)")
	ext := fs.String("ext", "", "the member's extension, e.g. 101")
	name := fs.String("name", "", "the member's display name")
	role := fs.String("role", identity.DefaultRole, "the member's role, e.g. medic, firefighter, incident-commander")
	out := fs.String("out", "", "file to write the enrolment bundle to (it holds a private key: hand it over on trusted media)")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if *dir == "" || *ext == "" || *name == "" || *out == "" {
		fmt.Fprintln(stderr, "meshcomm ca issue: --dir, --ext, --name and --out are required")
		fs.Usage()
		return 2
	}
	bundle, err := identity.Issue(*dir, *ext, *name, *role, time.Now())
	if err != nil {
		return fail(stderr, "ca issue", err)
	}
	if err := identity.WriteBundle(*out, bundle); err != nil {
		return fail(stderr, "ca issue", err)
	}
	ca, err := identity.LoadCA(*dir)
	if err != nil {
		return fail(stderr, "ca issue", err)
	}
	ce, _ := identity.CanonicalExt(*ext)
	fmt.Fprintf(stdout, "ISSUED   %s   %s\n  bundle   %s (private key inside: keep it safe)\n"+
		"On the member's laptop: meshcomm enroll %s\n", identity.AoR(ce, ca.Team()), *name, *out, filepath.Base(*out))
	return 0
}

func runCARevoke(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ca revoke", "ca revoke --dir CADIR --cert FILE|--fingerprint FP [--reason R] --out FILE", stderr)
	dir := fs.String("dir", "", "the CA directory")
	cert := fs.String("cert", "", "the certificate to revoke: a node.pem or bundle holding it")
	fp := fs.String("fingerprint", "", "the certificate to revoke, by SHA-256 fingerprint (or serial number) from the CA's issued/ log")
	reason := fs.String("reason", "", "why, e.g. \"laptop lost\"")
	out := fs.String("out", "", "file to write the signed revocation to")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	if *dir == "" || *out == "" || (*cert == "") == (*fp == "") {
		fmt.Fprintln(stderr, "meshcomm ca revoke: --dir, --out and exactly one of --cert or --fingerprint are required")
		fs.Usage()
		return 2
	}
	ref := *cert
	if ref == "" {
		ref = strings.ReplaceAll(*fp, " ", "")
	}
	rec, err := identity.Revoke(*dir, ref, *reason, time.Now())
	if err != nil {
		return fail(stderr, "ca revoke", err)
	}
	file, err := identity.EncodeRevocationFile(rec)
	if err != nil {
		return fail(stderr, "ca revoke", err)
	}
	if err := writeNew(*out, file); err != nil {
		return fail(stderr, "ca revoke", err)
	}
	var revoked identity.Fingerprint
	copy(revoked[:], rec.Key)
	fmt.Fprintf(stdout, "REVOKED   certificate %s\n  revocation written to %s\n"+
		"Flood it from any running node: meshcomm revoke publish %s\n", revoked.Grouped(), *out, *out)
	return 0
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runEnroll(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("enroll", "enroll FILE [--data DIR]", stderr)
	cf := newClientFlags(fs, false)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	id, err := identity.Enroll(pos[0], *cf.data, time.Now())
	if errors.Is(err, identity.ErrAlreadyEnrolled) {
		fmt.Fprintf(stderr, "meshcomm enroll: %s already holds an identity; enrol into a fresh data directory (--data)\n", *cf.data)
		return 1
	}
	if err != nil {
		return fail(stderr, "enroll", err)
	}
	fmt.Fprintf(stdout, "ENROLLED   %s   %s (%s)\n  node   %s\n  team   %s, CA %s\nStart the node with: meshcomm daemon --data %s\n",
		id.AoR(), id.DisplayName(), id.Role(), id.NodeID(), id.Team(), id.CAFingerprint().Grouped(), *cf.data)
	return 0
}

func runTrustAdd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("trust add", "trust add CA.pem [--data DIR]", stderr)
	cf := newClientFlags(fs, false)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	var team string
	var fp identity.Fingerprint
	if cl, err := node.Dial(*cf.data); err == nil { // a running node trusts it at once
		defer cl.Close()
		pem, err := os.ReadFile(pos[0])
		if err != nil {
			return fail(stderr, "trust add", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		a, err := cl.TrustAdd(ctx, pem)
		if err != nil {
			return fail(stderr, "trust add", err)
		}
		team = a.Team
		fp, _ = identity.ParseFingerprint(a.Fingerprint)
	} else {
		a, err := identity.TrustAdd(*cf.data, pos[0], time.Now())
		if err != nil {
			return fail(stderr, "trust add", err)
		}
		team, fp = a.Team, a.Fingerprint
	}
	fmt.Fprintf(stdout, "TRUSTED   team %s\n  CA fingerprint   %s\n", team, fp.Grouped())
	return 0
}

func runTrustList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("trust list", "trust list [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	anchors, err := identity.TrustList(*cf.data)
	if err != nil {
		return fail(stderr, "trust list", err)
	}
	if *cf.json {
		out := make([]node.AnchorInfo, len(anchors))
		for i, a := range anchors {
			out[i] = node.AnchorInfo{Team: a.Team, Fingerprint: a.Fingerprint.String(), NotAfter: a.NotAfter, Own: a.Own}
		}
		if err := printJSON(stdout, out); err != nil {
			return fail(stderr, "trust list", err)
		}
		return 0
	}
	fmt.Fprintf(stdout, "%d TRUSTED TEAMS\n", len(anchors))
	for _, a := range anchors {
		own := ""
		if a.Own {
			own = "   (own team)"
		}
		fmt.Fprintf(stdout, "  %s%s\n    CA fingerprint %s, valid until %s\n", a.Team, own, a.Fingerprint.Grouped(), a.NotAfter.Format("2006-01-02"))
	}
	return 0
}

// runRevokeImport honours a revocation in a data directory. When its daemon runs, the daemon
// honours it at once (and passes it on to its peers, as publish does).
func runRevokeImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("revoke import", "revoke import FILE [--data DIR]", stderr)
	cf := newClientFlags(fs, false)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	if cl, err := node.Dial(*cf.data); err == nil {
		cl.Close()
		fmt.Fprintln(stdout, "a daemon is running on this data directory: handing the revocation to it")
		return runRevokePublish(args, stdout, stderr)
	}
	info, err := identity.ImportRevocation(*cf.data, pos[0], time.Now())
	if err != nil {
		return fail(stderr, "revoke import", err)
	}
	fmt.Fprintf(stdout, "REVOKED   %s\n  certificate %s, reason: %s\n", info.AoR, info.Fingerprint.Grouped(), info.Reason)
	return 0
}

func runRevokePublish(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("revoke publish", "revoke publish FILE [--data DIR]", stderr)
	cf := newClientFlags(fs, false)
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	file, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, "revoke publish", err)
	}
	cl, ok := dial("revoke publish", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := cl.PublishRevocation(ctx, file)
	if err != nil {
		return fail(stderr, "revoke publish", err)
	}
	fp, _ := identity.ParseFingerprint(res.Fingerprint)
	fmt.Fprintf(stdout, "REVOKED   %s\n  certificate %s\n  sent to %d linked peers; it floods from there\n", res.AoR, fp.Grouped(), res.SentTo)
	if res.SentTo == 0 {
		fmt.Fprintln(stdout, "  (no peer is linked now: honoured here only; publish it again once peers are in reach)")
	}
	return 0
}
