package phonelab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/node"
)

// deliveryTimeout bounds how long a stored message may take to reach its recipient once the
// recipient is back: the recipient looks for stored messages every 20 s (and 3 s after it
// starts), and links must come up first.
const deliveryTimeout = 90 * time.Second

// A laptop goes out of reach (its radio hears nobody; its daemon keeps running). A text sent
// to it meanwhile cannot be handed over: the sender reports it stored in the overlay, and the
// other laptops hold it. When the laptop comes back into range, the message reaches its inbox
// exactly once; the sender's copy turns to delivered (the receipt came back), and the
// overlay's copies are deleted. Two outages:
//
//   - a long one, past the transport's idle timeout (the links to the laptop are gone): the
//     message comes from the overlay;
//   - a brief one (back before the links time out): QUIC may still carry the direct
//     hand-over the sender gave up on, so the message may arrive directly as well as from the
//     overlay; it must still be delivered once.
func TestMessageToLaptopOutOfReach(t *testing.T) {
	const a, b, cc = 1, 2, 3
	c, phone := newLab(t, "msg", 3, perfect)
	t.Parallel()
	procs := startThree(t, c)

	for _, outage := range []struct {
		name string
		text string
		long bool
		via  string
	}{
		{"long outage", "C, report to sector 4 when you are back in range", true, "overlay"},
		{"brief outage", "C, never mind, sector 4 is clear", false, ""},
	} {
		t.Run(outage.name, func(t *testing.T) {
			if err := c.Emulator().Move(cc, nil); err != nil { // C's laptop leaves radio range
				t.Fatal(err)
			}
			sent := time.Now()
			res, err := phone.Send(a, procs[cc].Ready.AoR, outage.text)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("A's message to C (out of reach): %s after %v", res.State, time.Since(sent).Round(time.Millisecond))
			if res.State != "stored" || res.To != procs[cc].Ready.AoR {
				t.Fatalf("msg to a laptop out of reach: %+v, want state stored, to %s", res, procs[cc].Ready.AoR)
			}
			waitFor(t, 30*time.Second, "B to hold A's stored message", func() (bool, string) {
				return holdsMessage(c, b, procs[a].Ready.NodeID, false)
			})
			if got, err := inboxFrom(phone, cc, procs[a].Ready.AoR, outage.text); err != nil || len(got) != 0 {
				t.Fatalf("C's inbox while out of reach: %v (%v), want no message", got, err)
			}
			if outage.long {
				waitFor(t, time.Minute, "the links to C to time out", func() (bool, string) {
					return noLinksAcross(c, procs, []int{a, b}, []int{cc})
				})
				t.Logf("the links to C went down %v after it left (the transport's idle timeout)", time.Since(sent).Round(time.Second))
			}
			back := time.Now()
			if err := c.Emulator().Move(cc, []int{a, b}); err != nil {
				t.Fatal(err)
			}
			d := waitFor(t, deliveryTimeout, "C to receive A's message after coming back", func() (bool, string) {
				got, err := inboxFrom(phone, cc, procs[a].Ready.AoR, outage.text)
				if err != nil {
					return false, err.Error()
				}
				return len(got) > 0, "not in C's inbox yet"
			})
			t.Logf("C received A's message %v after coming back into range", d.Round(time.Millisecond))
			assertDeliveredOnce(t, c, phone, a, cc, procs, res.ID, outage.text, outage.via)
			t.Logf("A saw the receipt, and every stored copy was deleted, %v after C came back", time.Since(back).Round(time.Millisecond))
		})
	}
}

// assertDeliveredOnce checks the end of a store-and-forward delivery of message id from node
// from to node to: to's inbox holds it exactly once, by the path via; from's outbox turns to
// delivered; every node's stored copies turn into deletions; and to's inbox still holds it
// exactly once after all that. An empty via accepts either path.
func assertDeliveredOnce(t *testing.T, c *lab.Cluster, phone Phone, from, to int, procs map[int]*lab.Process, id, text, via string) {
	t.Helper()
	once := func(when string) {
		t.Helper()
		got, err := inboxFrom(phone, to, procs[from].Ready.AoR, text)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || via != "" && got[0].Via != via || got[0].Kind != "text" {
			t.Fatalf("%s: node %d's inbox holds %+v, want the message once, kind text, via %q", when, to, got, via)
		}
		t.Logf("%s: delivered once, via %s", when, got[0].Via)
	}
	once("at delivery")
	waitFor(t, deliveryTimeout, "the sender's copy to turn to delivered", func() (bool, string) {
		return outboxState(phone, from, id, "delivered")
	})
	for n := range procs {
		waitFor(t, deliveryTimeout, fmt.Sprintf("node %d's stored copies to be deleted", n), func() (bool, string) {
			return holdsMessage(c, n, procs[from].Ready.NodeID, true)
		})
	}
	once("after the receipt and the deletions")
}

// inboxFrom lists the messages in node n's inbox from AoR from with text text.
func inboxFrom(phone Phone, n int, from, text string) ([]node.InboxMessage, error) {
	res, err := phone.Messages(n)
	if err != nil {
		return nil, err
	}
	var out []node.InboxMessage
	for _, m := range res.Inbox {
		if m.From == from && m.Text == text {
			out = append(out, m)
		}
	}
	return out, nil
}

// outboxState reports whether node n's outbox entry id is in state want.
func outboxState(phone Phone, n int, id, want string) (bool, string) {
	res, err := phone.Messages(n)
	if err != nil {
		return false, err.Error()
	}
	for _, m := range res.Outbox {
		if m.ID == id {
			return m.State == want, fmt.Sprintf("message %s is %s", id, m.State)
		}
	}
	return false, fmt.Sprintf("message %s is not in node %d's outbox", id, n)
}

// holdsMessage reports whether node n holds message records signed by node sender: with
// deleted false, at least one live one; with deleted true, only deletions (or none).
func holdsMessage(c *lab.Cluster, n int, sender string, deleted bool) (bool, string) {
	recs, err := c.Records(n, "message")
	if err != nil {
		return false, err.Error()
	}
	live, gone := 0, 0
	for _, r := range recs {
		if !strings.HasPrefix(r.Key, sender) {
			continue
		}
		if r.Deleted {
			gone++
		} else {
			live++
		}
	}
	why := fmt.Sprintf("node %d holds %d live and %d deleted message records from %s", n, live, gone, sender[:8])
	if deleted {
		return live == 0, why
	}
	return live > 0, why
}
