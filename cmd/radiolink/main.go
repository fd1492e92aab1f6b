// Command radiolink runs the field lab: it creates one network namespace per simulated laptop,
// joins them through the userspace radio-link emulator of package radiolink, and serves a
// control socket through which tests and people change who hears whom while it runs.
//
//	radiolink --nodes 6 --prefix mc [--socket PATH] [--seed N] [--topology full|line|isolated]
//	          [--delay D] [--jitter D] [--loss P] [--rate BYTES] [--queue BYTES]
//	radiolink cleanup --prefix mc
//	radiolink ctl [--json] SOCKET link 1 2 --delay 10ms --loss 0.05
//	radiolink ctl SOCKET partition 1,2,3 4,5,6 | heal | move 3 1,2 | up 1 2 | down 1 2 | show | stats
//
// The lab runs until SIGINT or SIGTERM and then deletes its namespaces; `cleanup` deletes what a
// killed lab left behind. Run a program on node 3 with `ip netns exec mc3 PROGRAM`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"meshcomm/fieldtests/radiolink"
)

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "cleanup":
		err = cleanup(args[1:])
	case len(args) > 0 && args[0] == "ctl":
		err = ctl(args[1:], os.Stdout)
	default:
		err = run(args)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "radiolink:", strings.TrimPrefix(err.Error(), "radiolink: "))
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("radiolink", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "number of nodes (namespaces PREFIX1..PREFIXn)")
	prefix := fs.String("prefix", "mc", "namespace name prefix")
	socket := fs.String("socket", "", "control socket path (default /run/radiolink-PREFIX.sock)")
	seed := fs.Uint64("seed", 1, "seed of every loss and jitter draw")
	subnet := fs.String("subnet", radiolink.DefaultSubnet.String(), "IPv4 subnet; node n gets its base address + n")
	topology := fs.String("topology", "full", "initial topology: full (everyone hears everyone), line (n hears n-1 and n+1), isolated")
	delay := fs.Duration("delay", 0, "initial one-way delay of every link")
	jitter := fs.Duration("jitter", 0, "initial jitter of every link")
	loss := fs.Float64("loss", 0, "initial loss probability of every link")
	rate := fs.Int64("rate", 0, "initial rate of every link in bytes/s (0: unlimited)")
	queue := fs.Int64("queue", 0, "queue bound of a rate-limited link in bytes (0: default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q (commands: cleanup, ctl)", fs.Arg(0))
	}
	sub, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return err
	}
	if *socket == "" {
		*socket = "/run/radiolink-" + *prefix + ".sock"
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	lab, err := radiolink.Start(radiolink.Config{
		Prefix: *prefix, Nodes: *nodes, Subnet: sub, Seed: *seed, Log: log,
		Initial: radiolink.Link{Up: true, Delay: *delay, Jitter: *jitter, Loss: *loss, Rate: *rate, QueueBytes: *queue},
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := lab.Close(); err != nil {
			log.Error("radiolink: tearing the lab down", "err", err)
		}
	}()
	if err := applyTopology(lab.Emulator(), *topology); err != nil {
		return err
	}
	ln, err := radiolink.ListenControl(*socket)
	if err != nil {
		return err
	}
	defer os.Remove(*socket)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- radiolink.NewControlServer(lab.Emulator(), log).Serve(ctx, ln) }()
	fmt.Printf("radiolink: ready: %d nodes in namespaces %s..%s (%s), control socket %s\n",
		*nodes, lab.Namespace(1), lab.Namespace(*nodes), lab.Addr(1), *socket)
	select {
	case <-ctx.Done():
		fmt.Println("radiolink: stopping")
		return <-served
	case err := <-served:
		return err
	}
}

// applyTopology sets which nodes hear each other at start.
func applyTopology(em *radiolink.Emulator, topology string) error {
	return em.Do(func(m *radiolink.Medium) error {
		for a := 1; a <= m.Nodes(); a++ {
			for b := 1; b <= m.Nodes(); b++ {
				if a == b {
					continue
				}
				var up bool
				switch topology {
				case "full":
					up = true
				case "line":
					up = a-b == 1 || b-a == 1
				case "isolated":
				default:
					return fmt.Errorf("unknown topology %q (full, line, isolated)", topology)
				}
				if err := m.SetUp(a, b, up); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func cleanup(args []string) error {
	fs := flag.NewFlagSet("radiolink cleanup", flag.ContinueOnError)
	prefix := fs.String("prefix", "mc", "namespace name prefix of the lab to remove")
	if err := fs.Parse(args); err != nil {
		return err
	}
	removed, err := radiolink.Cleanup(*prefix)
	for _, ns := range removed {
		fmt.Println("removed namespace", ns)
	}
	if len(removed) == 0 && err == nil {
		fmt.Println("nothing to remove")
	}
	socket := "/run/radiolink-" + *prefix + ".sock"
	if _, serr := radiolink.Control(socket, "stats"); serr != nil {
		os.Remove(socket) // stale: no emulator answers on it
	}
	return err
}

func ctl(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("radiolink ctl", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the raw JSON response")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: radiolink ctl [--json] SOCKET COMMAND [ARGS]\n\ncommands: link A B [--delay D --jitter D --loss P --rate BYTES --queue BYTES --up|--down --oneway],\n  up A B, down A B, partition 1,2 3,4, heal, move N 1,2|none, show [A B], stats")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return flag.ErrHelp
	}
	resp, err := radiolink.Control(fs.Arg(0), strings.Join(fs.Args()[1:], " "))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(resp)
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	printResponse(out, resp)
	return nil
}

func printResponse(out io.Writer, resp radiolink.Response) {
	switch {
	case resp.Stats != nil:
		s := resp.Stats
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "from\tto\tforwarded\tbytes\tlost\tdown\tqueue-full\t")
		for _, p := range s.Pairs {
			fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.From, p.To, p.Forwarded, p.ForwardedBytes, p.DroppedLoss, p.DroppedDown, p.DroppedQueue)
		}
		w.Flush()
		fmt.Fprintf(out, "malformed %d, unknown unicast %d, write errors %d, in flight %d\n", s.Malformed, s.UnknownUnicast, s.WriteErrors, s.InFlight)
	case resp.Links != nil:
		for _, l := range resp.Links {
			fmt.Fprintf(out, "%d -> %d  %s\n", l.From, l.To, l.Link)
		}
	default:
		fmt.Fprintln(out, "ok")
	}
}
