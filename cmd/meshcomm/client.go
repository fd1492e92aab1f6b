package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"meshcomm/identity"
	"meshcomm/node"
)

func init() {
	subcommands["status"] = subcommand{summary: "show the running node: identity, mode, mesh size, peers",
		run: func(args []string) int { return runStatus(args, os.Stdout, os.Stderr) }}
	subcommands["lookup"] = subcommand{summary: "find where a user is registered: meshcomm lookup EXT|sip:EXT@TEAM",
		run: func(args []string) int { return runLookup(args, os.Stdout, os.Stderr) }}
	subcommands["peers"] = subcommand{summary: "list the peers this node has a direct link to",
		run: func(args []string) int { return runPeers(args, os.Stdout, os.Stderr) }}
	subcommands["records"] = subcommand{summary: "list the records the running node holds (--kind registration, node, ...)",
		run: func(args []string) int { return runRecords(args, os.Stdout, os.Stderr) }}
	subcommands["events"] = subcommand{summary: "print the running node's events as they happen",
		run: func(args []string) int { return runEvents(context.Background(), args, os.Stdout, os.Stderr) }}
}

// defaultDataDir is $MESHCOMM_DATA, or ~/.local/share/meshcomm.
func defaultDataDir() string {
	if d := os.Getenv("MESHCOMM_DATA"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "share", "meshcomm")
}

// parseArgs parses flags that may come before, between or after the positional arguments,
// and checks that there are minPos to maxPos of those (maxPos < 0: no limit). When ok is
// false the command must return code (0 after -h, 2 for bad usage; the error is printed).
func parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minPos || maxPos >= 0 && len(pos) > maxPos {
		switch {
		case len(pos) < minPos:
			fmt.Fprintf(fs.Output(), "meshcomm %s: missing argument\n", fs.Name())
		default:
			fmt.Fprintf(fs.Output(), "meshcomm %s: unexpected argument %q\n", fs.Name(), pos[maxPos])
		}
		fs.Usage()
		return nil, 2, false
	}
	return pos, 0, true
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	data *string
	json *bool
}

func newClientFlags(fs *flag.FlagSet, withJSON bool) clientFlags {
	c := clientFlags{data: fs.String("data", defaultDataDir(), "data directory of the node ($MESHCOMM_DATA, else ~/.local/share/meshcomm)")}
	if withJSON {
		c.json = fs.Bool("json", false, "print JSON instead of text")
	}
	return c
}

func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: meshcomm %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// dial connects to the daemon of dataDir, explaining clearly when there is none.
func dial(name, dataDir string, stderr io.Writer) (*node.Client, bool) {
	cl, err := node.Dial(dataDir)
	if errors.Is(err, node.ErrNotRunning) {
		fmt.Fprintf(stderr, "meshcomm %s: no daemon is running for %s\n  start one with: meshcomm daemon --data %s\n", name, dataDir, dataDir)
		return nil, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "meshcomm %s: %v\n", name, err)
		return nil, false
	}
	return cl, true
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "meshcomm %s: %v\n", name, err)
	return 1
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "status [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	cl, ok := dial("status", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return fail(stderr, "status", err)
	}
	if *cf.json {
		err = printJSON(stdout, st)
	} else {
		err = writeStatus(stdout, st)
	}
	if err != nil {
		return fail(stderr, "status", err)
	}
	return 0
}

// writeStatus prints a status for a person reading a screen in sunlight: upper-case labels,
// one fact per line, no colour.
func writeStatus(w io.Writer, st node.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "USER\t%s\t%s (%s)\n", st.AoR, st.Name, st.Role)
	fmt.Fprintf(tw, "NODE\t%s\t\n", st.NodeID)
	addr := st.Addr
	if addr == "" {
		addr = "none (link-local only)"
	}
	fmt.Fprintf(tw, "ADDRESS\t%s\t(listening on %s)\n", addr, st.Listen)
	fmt.Fprintf(tw, "MODE\t%s\t\n", strings.ToUpper(st.Mode))
	fmt.Fprintf(tw, "MESH SIZE\t%d\tnodes (estimate)\n", st.SizeEstimate)
	fmt.Fprintf(tw, "LINKS\t%d\tpeers linked, %d neighbours in use\n", len(st.Peers), st.Neighbors)
	fmt.Fprintf(tw, "RECORDS\t%d\theld (%d own, %d read back at start)\n", st.Records, st.OwnRecords, st.RecordsLoaded)
	fmt.Fprintf(tw, "UP\t%s\t\n", (time.Duration(st.UptimeS) * time.Second).String())
	if p := st.Presence; p != nil {
		fmt.Fprintf(tw, "PRESENCE\t%s\t%s\n", strings.ToUpper(p.State), p.Text)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Peers) > 0 {
		fmt.Fprintln(w, "\nPEERS")
		if err := writePeers(w, st.Peers); err != nil {
			return err
		}
	}
	if len(st.Roster) > 0 {
		fmt.Fprintln(w)
		if err := writeRoster(w, st.Roster); err != nil {
			return err
		}
	}
	for _, u := range st.Untrusted {
		fp, _ := identity.ParseFingerprint(u.Fingerprint)
		fmt.Fprintf(w, "\n!! UNTRUSTED TEAM NEARBY: %s\n   CA fingerprint %s\n   to trust it: get its ca.pem, check the fingerprint, run: meshcomm trust add ca.pem\n",
			u.Team, fp.Grouped())
	}
	return nil
}

func writePeers(w io.Writer, peers []node.PeerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "  USER\tNAME\tADDRESS\tRTT\tNODE")
	for _, p := range peers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1f ms\t%s\n", p.AoR, p.Name, p.Addr, p.RTTMs, p.NodeID[:8])
	}
	return tw.Flush()
}

func runPeers(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("peers", "peers [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	cl, ok := dial("peers", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	peers, err := cl.Peers(ctx)
	if err != nil {
		return fail(stderr, "peers", err)
	}
	if *cf.json {
		err = printJSON(stdout, peers)
	} else if len(peers) == 0 {
		_, err = fmt.Fprintln(stdout, "NO PEERS LINKED")
	} else {
		fmt.Fprintf(stdout, "%d PEERS LINKED\n", len(peers))
		err = writePeers(stdout, peers)
	}
	if err != nil {
		return fail(stderr, "peers", err)
	}
	return 0
}

// runLookup is `meshcomm lookup`: exit 0 when found, 1 when not found or on failure.
func runLookup(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("lookup", "lookup EXT|sip:EXT@TEAM [--data DIR] [--json] [--timeout DURATION]", stderr)
	cf := newClientFlags(fs, true)
	timeout := fs.Duration("timeout", node.DefaultLookupTimeout, "give up after this long")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	cl, ok := dial("lookup", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+5*time.Second)
	defer cancel()
	res, err := cl.Lookup(ctx, pos[0], *timeout)
	if err != nil {
		return fail(stderr, "lookup", err)
	}
	if *cf.json {
		err = printJSON(stdout, res)
	} else if res.Found {
		_, err = fmt.Fprintf(stdout, "FOUND   %s   %s\n  NODE      %s\n  CONTACT   %s\n  %d hops, %.1f ms\n",
			res.AoR, res.Name, res.NodeID, res.Contact, res.Hops, res.ElapsedMs)
	} else {
		_, err = fmt.Fprintf(stdout, "NOT FOUND   %s   (after %.0f ms)\n", res.AoR, res.ElapsedMs)
	}
	if err != nil {
		return fail(stderr, "lookup", err)
	}
	if !res.Found {
		return 1
	}
	return 0
}

func runRecords(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("records", "records [--kind KIND] [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	kind := fs.String("kind", "", "only records of this kind: node, registration, certificate, presence, talkgroup, message, revocation")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	cl, ok := dial("records", *cf.data, stderr)
	if !ok {
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs, err := cl.Records(ctx, *kind)
	if err != nil {
		return fail(stderr, "records", err)
	}
	if *cf.json {
		err = printJSON(stdout, recs)
	} else {
		fmt.Fprintf(stdout, "%d RECORDS\n", len(recs))
		tw := tabwriter.NewWriter(stdout, 0, 0, 3, ' ', 0)
		fmt.Fprintln(tw, "  KIND\tRESOURCE\tKEY\tVERSION\tEXPIRES\tNOTE")
		for _, r := range recs {
			note := r.AoR
			if r.Deleted {
				note = "DELETED"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", r.Kind, r.Resource[:8], r.Key[:min(8, len(r.Key))], r.Version,
				r.Expiry.Local().Format("15:04:05"), note)
		}
		err = tw.Flush()
	}
	if err != nil {
		return fail(stderr, "records", err)
	}
	return 0
}

// runEvents is `meshcomm events`: once subscribed it says so on stderr ("meshcomm events:
// watching DIR"), then prints one line per event until interrupted or the daemon stops.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("events", "events [--data DIR] [--json]", stderr)
	cf := newClientFlags(fs, true)
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	cl, ok := dial("events", *cf.data, stderr)
	if !ok {
		return 1
	}
	w, err := cl.Watch(ctx)
	if err != nil {
		cl.Close()
		return fail(stderr, "events", err)
	}
	defer w.Close()
	fmt.Fprintf(stderr, "meshcomm events: watching %s\n", *cf.data)
	enc := json.NewEncoder(stdout)
	for {
		ev, err := w.Next()
		if err == nil {
			if *cf.json {
				err = enc.Encode(ev)
			} else {
				_, err = fmt.Fprintln(stdout, eventLine(ev))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the daemon stopped")
			}
			return fail(stderr, "events", err)
		}
	}
}

func eventLine(ev node.Event) string {
	parts := []string{ev.Time.Local().Format("15:04:05"), strings.ToUpper(ev.Type)}
	for _, s := range []string{ev.AoR, ev.Kind, ev.Mode, ev.Addr, ev.Detail} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if ev.Peer != "" {
		parts = append(parts, "node "+ev.Peer[:min(8, len(ev.Peer))])
	}
	if ev.Deleted {
		parts = append(parts, "DELETED")
	}
	return strings.Join(parts, "  ")
}
