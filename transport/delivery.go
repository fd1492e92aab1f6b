package transport

import (
	"sync"

	"meshcomm/mesh"
)

// Bounds of the delivery queue. Frames wait for room (which holds back their streams and so,
// through QUIC flow control, the sending peer); datagrams that find it full are dropped; peer
// events are always queued (there are at most two per connection).
const (
	deliveryQueueItems = 1024
	deliveryQueueBytes = 16 << 20
)

type itemKind uint8

const (
	itemFrame itemKind = iota + 1
	itemDatagram
	itemPeer
)

type item struct {
	kind    itemKind
	from    mesh.Contact
	payload []byte
	event   PeerEvent
}

// delivery hands received items to the handlers from one goroutine, in arrival order.
type delivery struct {
	h Handlers

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []item
	head   int
	data   int // frames and datagrams queued
	bytes  int
	closed bool
	done   chan struct{}
}

func newDelivery(h Handlers) *delivery {
	d := &delivery{h: h, done: make(chan struct{})}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// pushEvent queues a peer event; it never blocks.
func (d *delivery) pushEvent(ev PeerEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.queue = append(d.queue, item{kind: itemPeer, event: ev})
	d.cond.Broadcast()
}

// pushFrame queues a frame, waiting for room; it reports false if the queue closed first.
func (d *delivery) pushFrame(from mesh.Contact, payload []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for !d.closed && d.full() {
		d.cond.Wait()
	}
	if d.closed {
		return false
	}
	d.add(item{kind: itemFrame, from: from, payload: payload})
	return true
}

// pushDatagram queues a datagram if there is room; it reports false if it dropped it.
func (d *delivery) pushDatagram(from mesh.Contact, payload []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.full() {
		return false
	}
	d.add(item{kind: itemDatagram, from: from, payload: payload})
	return true
}

func (d *delivery) full() bool {
	return d.data > 0 && (d.data >= deliveryQueueItems || d.bytes >= deliveryQueueBytes)
}

func (d *delivery) add(it item) {
	d.queue = append(d.queue, it)
	d.data++
	d.bytes += len(it.payload)
	d.cond.Broadcast()
}

// run delivers until close is called and everything queued before it is delivered.
func (d *delivery) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		for d.head == len(d.queue) && !d.closed {
			d.cond.Wait()
		}
		if d.head == len(d.queue) {
			d.mu.Unlock()
			return
		}
		it := d.queue[d.head]
		d.queue[d.head] = item{}
		d.head++
		if d.head == len(d.queue) {
			d.queue, d.head = d.queue[:0], 0
		}
		if it.kind != itemPeer {
			d.data--
			d.bytes -= len(it.payload)
		}
		d.cond.Broadcast()
		d.mu.Unlock()
		d.call(it)
	}
}

func (d *delivery) call(it item) {
	switch it.kind {
	case itemFrame:
		if d.h.OnFrame != nil {
			d.h.OnFrame(it.from, it.payload)
		}
	case itemDatagram:
		if d.h.OnDatagram != nil {
			d.h.OnDatagram(it.from, it.payload)
		}
	case itemPeer:
		if d.h.OnPeer != nil {
			d.h.OnPeer(it.event)
		}
	}
}

// close stops accepting items; run returns once the queue is delivered.
func (d *delivery) close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
}
