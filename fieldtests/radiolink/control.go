package radiolink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxCommandLen bounds one control request line, newline included.
const MaxCommandLen = 4096

// maxResponseLen bounds a response the client accepts (stats of a full 250-node lab fit).
const maxResponseLen = 64 << 20

// Command is one parsed control request; see the package documentation for the syntax.
type Command struct {
	Verb   string  // link, up, down, partition, heal, move, stats, show
	A, B   int     // the pair of link, up, down, show; A is the node of move
	OneWay bool    // link, up, down: only A -> B
	Groups [][]int // partition
	Hears  []int   // move

	// link: the fields given, nil when left alone.
	Up         *bool
	Delay      *time.Duration
	Jitter     *time.Duration
	Loss       *float64
	Rate       *int64
	QueueBytes *int64
}

// Response is the answer to one request, sent as one line of JSON.
type Response struct {
	OK    bool        `json:"ok"`
	Error string      `json:"error,omitempty"`
	Stats *Stats      `json:"stats,omitempty"`
	Links []LinkState `json:"links,omitempty"`
}

// LinkState is one directed link as show reports it.
type LinkState struct {
	From, To int
	Link     Link
}

// ParseCommand parses one request line.
func ParseCommand(line string) (Command, error) {
	if len(line) > MaxCommandLen {
		return Command{}, fmt.Errorf("radiolink: command longer than %d bytes", MaxCommandLen)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Command{}, errors.New("radiolink: empty command")
	}
	c := Command{Verb: fields[0]}
	args := fields[1:]
	var err error
	switch c.Verb {
	case "link", "up", "down":
		if len(args) < 2 {
			return c, fmt.Errorf("radiolink: usage: %s A B [flags]", c.Verb)
		}
		if c.A, c.B, err = parsePair(args[0], args[1]); err != nil {
			return c, err
		}
		return c, c.parseFlags(args[2:])
	case "show":
		switch len(args) {
		case 0:
			return c, nil
		case 2:
			c.A, c.B, err = parsePair(args[0], args[1])
			return c, err
		}
		return c, errors.New("radiolink: usage: show [A B]")
	case "partition":
		if len(args) == 0 {
			return c, errors.New("radiolink: usage: partition 1,2,3 4,5 ...")
		}
		for _, a := range args {
			g, err := parseNodeList(a)
			if err != nil {
				return c, err
			}
			c.Groups = append(c.Groups, g)
		}
		return c, nil
	case "move":
		if len(args) != 2 {
			return c, errors.New("radiolink: usage: move N 1,2,... (or none)")
		}
		if c.A, err = parseNode(args[0]); err != nil {
			return c, err
		}
		c.Hears, err = parseNodeList(args[1])
		return c, err
	case "heal", "stats":
		if len(args) != 0 {
			return c, fmt.Errorf("radiolink: %s takes no arguments", c.Verb)
		}
		return c, nil
	}
	return c, fmt.Errorf("radiolink: unknown command %q (link, up, down, partition, heal, move, stats, show)", truncate(c.Verb, 32))
}

// parseFlags reads the flags of link, up and down.
func (c *Command) parseFlags(args []string) error {
	fs := flag.NewFlagSet(c.Verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.OneWay, "oneway", false, "change only A -> B")
	if c.Verb != "link" {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("radiolink: %s: %w", c.Verb, err)
		}
		if fs.NArg() != 0 {
			return fmt.Errorf("radiolink: %s: unexpected %q", c.Verb, truncate(fs.Arg(0), 32))
		}
		up := c.Verb == "up"
		c.Up = &up
		return nil
	}
	var up, down bool
	var delay, jitter time.Duration
	var loss float64
	var rate, queue byteCount
	fs.BoolVar(&up, "up", false, "")
	fs.BoolVar(&down, "down", false, "")
	fs.DurationVar(&delay, "delay", 0, "")
	fs.DurationVar(&jitter, "jitter", 0, "")
	fs.Float64Var(&loss, "loss", 0, "")
	fs.Var(&rate, "rate", "")
	fs.Var(&queue, "queue", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("radiolink: link: %w", err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("radiolink: link: unexpected %q", truncate(fs.Arg(0), 32))
	}
	if up && down {
		return errors.New("radiolink: link: both --up and --down")
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "up":
			c.Up = &up
		case "down":
			notDown := !down
			c.Up = &notDown
		case "delay":
			c.Delay = &delay
		case "jitter":
			c.Jitter = &jitter
		case "loss":
			c.Loss = &loss
		case "rate":
			r := int64(rate)
			c.Rate = &r
		case "queue":
			q := int64(queue)
			c.QueueBytes = &q
		}
	})
	return nil
}

// byteCount is a flag value in bytes with an optional decimal k, M or G suffix.
type byteCount int64

func (b *byteCount) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteCount) Set(s string) error {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return errors.New("want a byte count such as 125000, 125k or 2M")
	}
	*b = byteCount(v * mult)
	return nil
}

func parseNode(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxNodes {
		return 0, fmt.Errorf("radiolink: %q is not a node number (1..%d)", truncate(s, 32), MaxNodes)
	}
	return n, nil
}

func parsePair(a, b string) (int, int, error) {
	x, err := parseNode(a)
	if err != nil {
		return 0, 0, err
	}
	y, err := parseNode(b)
	return x, y, err
}

// parseNodeList parses "1,2,3"; "none" is the empty list.
func parseNodeList(s string) ([]int, error) {
	if s == "none" {
		return nil, nil
	}
	var nodes []int
	for _, f := range strings.Split(s, ",") {
		n, err := parseNode(f)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Apply carries the command out on em.
func (c Command) Apply(em *Emulator) Response {
	var err error
	var resp Response
	switch c.Verb {
	case "link", "up", "down":
		change := func(l *Link) {
			set(&l.Up, c.Up)
			set(&l.Delay, c.Delay)
			set(&l.Jitter, c.Jitter)
			set(&l.Loss, c.Loss)
			set(&l.Rate, c.Rate)
			set(&l.QueueBytes, c.QueueBytes)
		}
		err = em.Do(func(m *Medium) error {
			// Check both directions first so that a bad request changes nothing.
			for _, p := range c.pairs() {
				l, err := m.Link(p[0], p[1])
				if err != nil {
					return err
				}
				change(&l)
				if err := l.Validate(); err != nil {
					return err
				}
			}
			for _, p := range c.pairs() {
				if err := m.UpdateLink(p[0], p[1], change); err != nil {
					return err
				}
			}
			return nil
		})
	case "partition":
		err = em.Partition(c.Groups...)
	case "heal":
		em.Heal()
	case "move":
		err = em.Move(c.A, c.Hears)
	case "stats":
		s := em.Stats()
		resp.Stats = &s
	case "show":
		err = em.Do(func(m *Medium) error {
			for from := 1; from <= m.Nodes(); from++ {
				for to := 1; to <= m.Nodes(); to++ {
					if from == to || c.A != 0 && !(from == c.A && to == c.B || from == c.B && to == c.A) {
						continue
					}
					l, err := m.Link(from, to)
					if err != nil {
						return err
					}
					resp.Links = append(resp.Links, LinkState{From: from, To: to, Link: l})
				}
			}
			if c.A != 0 && len(resp.Links) == 0 {
				return fmt.Errorf("radiolink: no link %d-%d", c.A, c.B)
			}
			return nil
		})
	default:
		err = fmt.Errorf("radiolink: unknown command %q", c.Verb)
	}
	if err != nil {
		return Response{Error: err.Error()}
	}
	resp.OK = true
	return resp
}

func (c Command) pairs() [][2]int {
	if c.OneWay {
		return [][2]int{{c.A, c.B}}
	}
	return [][2]int{{c.A, c.B}, {c.B, c.A}}
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ControlServer answers control requests for an emulator on a listener, typically a unix
// socket: one request line in, one JSON response line out, any number per connection.
type ControlServer struct {
	em          *Emulator
	log         *slog.Logger
	badCommands atomic.Uint64
}

// NewControlServer returns a server for em; log receives rejected requests (nil: slog.Default()).
func NewControlServer(em *Emulator, log *slog.Logger) *ControlServer {
	if log == nil {
		log = slog.Default()
	}
	return &ControlServer{em: em, log: log}
}

// BadCommands counts requests that failed to parse or apply.
func (s *ControlServer) BadCommands() uint64 { return s.badCommands.Load() }

// ListenControl listens on a unix socket at path, replacing a stale socket left by a process
// that died, but never another kind of file.
func ListenControl(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("radiolink: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("radiolink: %s is in use by a running emulator", path)
		}
		os.Remove(path)
	}
	return net.Listen("unix", path)
}

// Serve answers requests on ln until ctx is done, then closes ln and every connection and
// returns once their goroutines have stopped.
func (s *ControlServer) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		var c net.Conn
		if c, err = ln.Accept(); err != nil {
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			break
		}
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			s.serveConn(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		})
	}
	ln.Close()
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *ControlServer) serveConn(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 512), MaxCommandLen)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		cmd, err := ParseCommand(line)
		resp := Response{}
		if err == nil {
			resp = cmd.Apply(s.em)
		} else {
			resp.Error = err.Error()
		}
		if !resp.OK {
			s.reject(resp.Error)
		}
		if enc.Encode(resp) != nil {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) { // no way to find the next line: answer and hang up
		msg := fmt.Sprintf("radiolink: command longer than %d bytes", MaxCommandLen)
		s.reject(msg)
		enc.Encode(Response{Error: msg})
	}
}

func (s *ControlServer) reject(reason string) {
	n := s.badCommands.Add(1)
	s.log.Warn("radiolink: rejected a control request", "reason", reason, "rejected_total", n)
}

// Control sends one request line to the control socket at path and returns the response. A
// request the emulator rejects comes back as a Response with OK false, not as an error.
func Control(path, line string) (Response, error) {
	if strings.ContainsAny(line, "\r\n") {
		return Response{}, errors.New("radiolink: a request is one line")
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return Response{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return Response{}, err
	}
	var resp Response
	if err := json.NewDecoder(io.LimitReader(c, maxResponseLen)).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("radiolink: reading the response: %w", err)
	}
	return resp, nil
}
