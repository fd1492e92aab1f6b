package lab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"meshcomm/node"
)

// maxEventLine bounds one line of `meshcomm events --json`.
const maxEventLine = 1 << 20

// Watcher follows a daemon's events through `meshcomm events --json`, run on the host.
type Watcher struct {
	// Events delivers the daemon's events in order. It is closed when the watch ends.
	Events <-chan node.Event
	// Undecodable counts lines that were not an event.
	Undecodable atomic.Uint64

	proc   *Process
	closed chan struct{}
	once   sync.Once
}

// Watch starts `meshcomm events --json` for node n and returns once it is subscribed, so no
// later event is missed. buffer bounds the events waiting to be read; the watcher stalls (and
// the daemon drops events for it, counted) when it is full.
func (c *Cluster) Watch(n int, buffer int) (*Watcher, error) {
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.cfg.Binary, "events", "--json", "--data", c.DataDir(n))
	cmd.Stderr = errW
	p, stdout, err := spawn(cmd)
	errW.Close()
	if err != nil {
		errR.Close()
		return nil, err
	}
	p.N = n
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()

	subscribed := make(chan error, 1)
	go func() {
		defer errR.Close()
		sc := bufio.NewScanner(errR)
		var text []string
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "meshcomm events: watching") {
				subscribed <- nil
			}
			text = append(text, sc.Text())
		}
		select { // nobody reads this once the watch was subscribed
		case subscribed <- fmt.Errorf("lab: meshcomm events for node %d ended: %s", n, strings.Join(text, "; ")):
		default:
		}
	}()
	events := make(chan node.Event, buffer)
	w := &Watcher{Events: events, proc: p, closed: make(chan struct{})}
	go func() {
		defer close(events)
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 4096), maxEventLine)
		for sc.Scan() {
			var ev node.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				w.Undecodable.Add(1)
				continue
			}
			select {
			case events <- ev:
			case <-w.closed: // nobody reads any more
				return
			}
		}
	}()
	select {
	case err := <-subscribed:
		if err != nil {
			_ = p.Kill()
			return nil, err
		}
		return w, nil
	case <-time.After(ReadyTimeout):
		_ = p.Kill()
		return nil, fmt.Errorf("lab: meshcomm events for node %d did not subscribe within %v", n, ReadyTimeout)
	}
}

// Close ends the watch.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.closed) })
	return w.proc.Kill()
}
