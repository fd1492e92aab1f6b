package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"meshcomm/node"
)

func init() {
	subcommands["daemon"] = subcommand{
		summary: "run this laptop's mesh node headless (stop with Ctrl-C or SIGTERM)",
		run: func(args []string) int {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDaemon(ctx, args, os.Stdout, os.Stderr, nil)
		},
	}
}

// stringList is a flag that may be given many times.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runDaemon is `meshcomm daemon`: it runs a node until ctx ends (a signal), then leaves the
// mesh cleanly. Once the node runs it prints one line to stdout, "meshcomm daemon: ready ...",
// and calls ready (tests) with it.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(*node.Node)) int {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: meshcomm daemon [--data DIR] [--ext EXT] [--listen ADDR] [--peer HOST:PORT]... [--no-mdns]\n"+
			"                       [--log-level debug|info|warn|error] [--team NAME]\n\n"+
			"Runs this laptop's node: it joins the mesh, registers the user and serves `meshcomm status`,\n"+
			"`lookup` and `peers` on DIR/control.sock. The first run needs --ext (or an enrolled bundle).\n\nflags:\n")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data", defaultDataDir(), "data directory: identity, records, control socket ($MESHCOMM_DATA, else ~/.local/share/meshcomm)")
	ext := fs.String("ext", "", "extension to create an identity for when the data directory holds none (e.g. 101)")
	team := fs.String("team", "", "team name for a newly created identity (default: derived from its key)")
	listen := fs.String("listen", node.DefaultListen, "UDP address of the QUIC endpoint")
	var peers stringList
	fs.Var(&peers, "peer", "static peer HOST:PORT (repeatable)")
	noMDNS := fs.Bool("no-mdns", false, "do not discover peers with multicast DNS")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	autoAnswer := fs.Bool("auto-answer", false, "answer incoming calls by itself (unattended nodes, tests)")
	answerAfter := fs.Duration("answer-after", 0, "with --auto-answer: let a call ring this long first")
	play := fs.String("play", "", "WAV file (16-bit mono) played into answered incoming calls")
	record := fs.String("record", "", "directory receiving a WAV recording of each answered incoming call")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the daemon's whole run to this file (diagnosis)")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "meshcomm daemon: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "meshcomm daemon: no data directory: set --data or $MESHCOMM_DATA")
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "meshcomm daemon: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "meshcomm daemon: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	n, err := node.Start(node.Config{DataDir: *dataDir, Ext: *ext, Team: *team, Listen: *listen, Peers: peers,
		MDNS: !*noMDNS, Logger: log, AutoAnswer: *autoAnswer, AutoAnswerAfter: *answerAfter,
		AnswerPlay: absPath(*play), AnswerRecordDir: absPath(*record)})
	if err != nil {
		if errors.Is(err, node.ErrNeedExt) {
			fmt.Fprintf(stderr, "meshcomm daemon: %s holds no identity yet.\n"+
				"  Start with your extension to create one:   meshcomm daemon --ext 101 --data %s\n"+
				"  or enrol with a bundle from your team CA:  meshcomm enroll BUNDLE.pem --data %s\n", *dataDir, *dataDir, *dataDir)
			return 1
		}
		fmt.Fprintf(stderr, "meshcomm daemon: %v\n", err)
		return 1
	}
	id := n.Identity()
	fmt.Fprintf(stdout, "meshcomm daemon: ready %s node=%s listen=%s addr=%s control=%s\n", id.AoR(), n.ID(), n.LocalAddr(),
		n.Contact().Addr, node.ControlPath(*dataDir))
	if ready != nil {
		ready(n)
	}
	select {
	case <-ctx.Done():
		log.Info("meshcomm daemon: leaving the mesh")
	case <-n.Done():
	}
	n.Close()
	return 0
}
