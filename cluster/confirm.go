package cluster

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Leadership confirmation for linearizable reads (ReadIndex) without a Raft
// heartbeat round.
//
// A leader may answer a read from its own state once it knows that no newer
// leader existed when the read arrived. Raft's VerifyLeader finds out with a
// heartbeat to every follower, through the leader's main loop, a goroutine
// per follower and a msgpack request each way: under a read-heavy load those
// rounds cost a fifth of the leader's CPU and a share of every follower's.
// The confirmation asks the same question more cheaply. The leader of term T
// sends T to followers over a dedicated connection on the Raft port; each
// answers with its current term. Once a quorum of voters, the leader
// included, has answered T, the leader still led when the read arrived:
//
//   - A follower answering T at time t has not voted in any term above T by t:
//     granting a vote for term T' first raises the current term to T'
//     (persisted, and terms never decrease), and the answer reads the term
//     after the request arrived, so after the read began.
//   - A leader of a term above T needs votes from a quorum, which shares at
//     least one member with the quorum that answered T (the leader itself
//     counts, being leader of T when the round began). So no such leader was
//     elected before the read arrived, and every write acknowledged before
//     then is covered by this leader's commit index.
//
// Quorums are counted over the leader's latest configuration. The node keeps
// a copy, taken while no membership change of its own is in flight and
// checked again after the round (membershipGen); anything doubtful (no copy,
// a change in flight, a follower at another term, no quorum in time) falls
// back to VerifyLeader, the path this one shortcuts. The leader asks only as
// many followers as a quorum needs, fastest first, and asks the others only
// if those do not answer within a short delay: in a 3-node cluster one
// follower answers each round and the other does no work for reads.
//
// Wire format (all integers big-endian): the dialling side sends
// confirmMagic, then the server ID it expects to reach (one length byte and
// the ID; a node with another ID closes the connection, so a node that took
// over a voter's address never answers for it), then requests of 16 bytes
// (sequence number, term); the other side answers each with 16 bytes (the
// same sequence number, its current term). Raft's own connections start with an RPC type byte, 0 to 4, so the
// listener tells the two apart by the first byte (muxStream).

const (
	// confirmMagic is the first byte of a confirmation connection.
	confirmMagic byte = 0xC7
	confirmFrame      = 16
	// confirmHedgeMin and confirmHedgeMax bound how long a round waits for the
	// followers it asked first before asking the others (four times the
	// slowest one's recent answer time, within these bounds).
	confirmHedgeMin = 2 * time.Millisecond
	confirmHedgeMax = 50 * time.Millisecond
	// A peer whose connection failed is left alone for confirmRedial before
	// it is dialled again, twice as long after each failure in a row up to
	// confirmRedialMax (a peer of an older version closes the connection at
	// once, and logs it).
	confirmRedial    = time.Second
	confirmRedialMax = time.Minute
	// confirmMaxMisses unanswered requests in a row drop a connection.
	confirmMaxMisses = 3
)

// muxStream is the Raft transport's stream layer: a TCP listener whose
// connections go to Raft, except those whose first byte names one of the
// node's own services (confirmMagic, readIndexMagic, readIndexIDMagic).
type muxStream struct {
	ln        net.Listener
	advertise net.Addr
	serve     map[byte]func(net.Conn) // by first byte: runs one connection and closes it

	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	active map[net.Conn]struct{} // connections not yet handed to Raft, and confirmation connections
	wg     sync.WaitGroup
}

func listenMux(bind string, advertise net.Addr, serve map[byte]func(net.Conn)) (*muxStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	m := &muxStream{ln: ln, advertise: advertise, serve: serve, conns: make(chan net.Conn),
		closed: make(chan struct{}), active: make(map[net.Conn]struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

func (m *muxStream) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				m.Close()
				return
			}
			// Out of file descriptors and the like: wait and try again, as
			// Raft's own listener loop would.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-m.closed:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !m.track(c) {
			c.Close()
			return
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

// track records c as open unless the stream is closed.
func (m *muxStream) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		return false
	}
	m.active[c] = struct{}{}
	return true
}

func (m *muxStream) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.active, c)
	m.mu.Unlock()
}

// route reads c's first byte and hands c to the service it names or to
// Raft, without holding up other connections.
func (m *muxStream) route(c net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(transportTimeout))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		m.untrack(c)
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if serve := m.serve[b[0]]; serve != nil {
		serve(c)
		m.untrack(c)
		return
	}
	m.untrack(c)
	select {
	case m.conns <- &prefixConn{Conn: c, first: b[0], pending: true}:
	case <-m.closed:
		c.Close()
	}
}

// Accept returns the next connection for Raft.
func (m *muxStream) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener and closes the connections it has not handed to
// Raft; Raft closes its own.
func (m *muxStream) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
		m.mu.Lock()
		for c := range m.active {
			c.Close()
		}
		m.active = nil
		m.mu.Unlock()
	})
	return err
}

// Addr is the advertised address.
func (m *muxStream) Addr() net.Addr {
	if m.advertise != nil {
		return m.advertise
	}
	return m.ln.Addr()
}

// Dial opens a Raft connection to a peer.
func (m *muxStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// prefixConn gives back the first byte the listener read.
type prefixConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// serveConfirm answers confirmation requests on c with term() until c fails
// or closes, if the caller expects to reach the server self. Requests that
// arrived together are answered with one write.
func serveConfirm(c net.Conn, self raft.ServerID, term func() uint64) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 512)
	bw := bufio.NewWriterSize(c, 512)
	_ = c.SetReadDeadline(time.Now().Add(transportTimeout))
	if id, err := readHelloID(br); err != nil || id != self {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var req, resp [confirmFrame]byte
	for {
		if _, err := io.ReadFull(br, req[:]); err != nil {
			return
		}
		copy(resp[:8], req[:8])
		binary.BigEndian.PutUint64(resp[8:], term())
		if _, err := bw.Write(resp[:]); err != nil {
			return
		}
		if br.Buffered() < confirmFrame {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}

// confirmer is the leader side: connections to the voters and the rounds.
// One round runs at a time (rounds starts them); it is driven by the
// answers as they are read (readAcks) and by two timers, so starting one
// costs its caller a write per follower asked and nothing else.
// Connections are dialled in the background.
type confirmer struct {
	self        raft.ServerID
	dialTimeout time.Duration

	mu    sync.Mutex
	peers map[raft.ServerID]*confirmPeer
	done  bool

	// roundMu guards the round in flight and the peers' round fields; it is
	// taken before mu when both are held.
	roundMu sync.Mutex
	cur     *confirmRound
	seq     uint64 // of the last round
}

type confirmPeer struct {
	id   raft.ServerID
	addr raft.ServerAddress

	// Guarded by confirmer.mu.
	conn     net.Conn
	dialing  bool
	retryAt  time.Time
	failures int // connections in a row that failed before an answer

	// Guarded by confirmer.roundMu.
	rtt    time.Duration // recent answer time (moving average)
	misses int           // requests in a row left unanswered
	sentAt time.Time
	acked  bool
}

type confirmAck struct {
	peer      *confirmPeer
	seq, term uint64
	at        time.Time
}

// confirmRound is a round in flight. Guarded by confirmer.roundMu.
type confirmRound struct {
	seq, term uint64
	need      int            // answers of term that make a quorum
	ready     []*confirmPeer // connected followers, fastest first
	req       [confirmFrame]byte
	next      int // ready[:next] were offered the request
	asked     int // of those, how many took it and may still answer
	got       int // answers of term
	hedge     *time.Timer
	deadline  *time.Timer
	finish    func(ok bool)
}

func newConfirmer(self raft.ServerID, dialTimeout time.Duration) *confirmer {
	return &confirmer{self: self, dialTimeout: dialTimeout, peers: make(map[raft.ServerID]*confirmPeer)}
}

// start begins a round that asks whether a quorum of voters, this node
// included, answers term within timeout, and calls finish with the outcome
// exactly once: on the goroutine that reads the deciding answer, on a
// timer's, or on the caller's before start returns (when the round cannot
// start, or needs no follower). Only as many followers as a quorum needs
// are asked, fastest first; the others are asked after hedgeDelay. It
// returns the round, nil if it ended at once; finish must not block.
func (c *confirmer) start(term uint64, voters []raft.Server, timeout time.Duration, finish func(ok bool)) *confirmRound {
	selfVoter := slices.ContainsFunc(voters, func(s raft.Server) bool { return s.ID == c.self })
	need := len(voters) / 2 // followers needed: a quorum (len/2+1) less this node
	if !selfVoter || need == 0 {
		finish(selfVoter)
		return nil
	}
	ready := c.connected(voters)
	c.roundMu.Lock()
	if len(ready) < need || c.cur != nil {
		c.roundMu.Unlock()
		finish(false)
		return nil
	}
	slices.SortStableFunc(ready, func(a, b *confirmPeer) int { return cmp.Compare(a.rtt, b.rtt) })
	c.seq++
	r := &confirmRound{seq: c.seq, term: term, need: need, ready: ready, finish: finish}
	binary.BigEndian.PutUint64(r.req[:8], r.seq)
	binary.BigEndian.PutUint64(r.req[8:], term)
	for _, p := range ready {
		p.acked = false
		p.sentAt = time.Time{}
	}
	c.cur = r
	c.ask(r, need)
	if fin := c.endIfShort(r); fin != nil {
		c.roundMu.Unlock()
		fin(false)
		return nil
	}
	r.hedge = time.AfterFunc(c.hedgeDelay(ready[:r.next]), func() { c.onHedge(r) })
	r.deadline = time.AfterFunc(timeout, func() { c.abort(r) })
	c.roundMu.Unlock()
	return r
}

// ask sends r's request to the next k followers that take it. Under roundMu.
func (c *confirmer) ask(r *confirmRound, k int) {
	for k > 0 && r.next < len(r.ready) {
		p := r.ready[r.next]
		r.next++
		if c.send(p, r.req[:]) {
			p.sentAt = time.Now()
			r.asked++
			k--
		}
	}
}

// endIfShort ends r, unanswered, if too few followers are left to answer;
// it returns finish to call after roundMu is released, or nil. Under
// roundMu.
func (c *confirmer) endIfShort(r *confirmRound) func(bool) {
	if r.asked+len(r.ready)-r.next >= r.need {
		return nil
	}
	return c.end(r)
}

// end stops r, records who did not answer (settle) and returns its finish.
// Under roundMu, with r current.
func (c *confirmer) end(r *confirmRound) func(bool) {
	if r.hedge != nil {
		r.hedge.Stop()
		r.deadline.Stop()
	}
	c.cur = nil
	c.settle(r.ready)
	return r.finish
}

// onAck counts an answer for the round in flight.
func (c *confirmer) onAck(a confirmAck) {
	c.roundMu.Lock()
	r := c.cur
	p := a.peer
	if r == nil || a.seq != r.seq || p.acked {
		c.roundMu.Unlock()
		return // a late answer to an earlier round
	}
	var fin func(bool)
	ok := false
	switch {
	case a.term > r.term:
		// A newer term exists: this node may be deposed; Raft's round will
		// tell.
		fin = c.end(r)
	case a.term < r.term:
		// It has not heard of this term yet (it just restarted, or rejoined
		// with no state): no vote either way. Ask the others.
		p.acked = true
		r.asked--
		c.ask(r, len(r.ready))
		fin = c.endIfShort(r)
	default:
		p.acked = true
		p.misses = 0
		c.mu.Lock()
		p.failures = 0
		c.mu.Unlock()
		sample := a.at.Sub(p.sentAt)
		if p.rtt == 0 {
			p.rtt = sample
		} else {
			p.rtt = (3*p.rtt + sample) / 4
		}
		r.got++
		if r.got >= r.need {
			ok = true
			fin = c.end(r)
		}
	}
	c.roundMu.Unlock()
	if fin != nil {
		fin(ok)
	}
}

// onHedge asks the followers r has not asked yet.
func (c *confirmer) onHedge(r *confirmRound) {
	c.roundMu.Lock()
	if c.cur != r {
		c.roundMu.Unlock()
		return
	}
	c.ask(r, len(r.ready))
	fin := c.endIfShort(r)
	c.roundMu.Unlock()
	if fin != nil {
		fin(false)
	}
}

// abort ends r unanswered if it is still in flight (its deadline passed,
// or its caller stopped waiting).
func (c *confirmer) abort(r *confirmRound) {
	c.roundMu.Lock()
	if r == nil || c.cur != r {
		c.roundMu.Unlock()
		return
	}
	fin := c.end(r)
	c.roundMu.Unlock()
	fin(false)
}

// hedgeDelay is how long to wait for the followers asked first.
func (c *confirmer) hedgeDelay(asked []*confirmPeer) time.Duration {
	var slowest time.Duration
	for _, p := range asked {
		slowest = max(slowest, p.rtt)
	}
	return min(max(4*slowest, confirmHedgeMin), confirmHedgeMax)
}

// settle records the followers that were asked and did not answer: they move
// to the back of the queue, and a connection that keeps missing is dropped.
func (c *confirmer) settle(ready []*confirmPeer) {
	for _, p := range ready {
		if p.sentAt.IsZero() || p.acked {
			continue
		}
		p.misses++
		p.rtt = max(p.rtt, confirmHedgeMax)
		if p.misses >= confirmMaxMisses {
			c.drop(p, nil)
		}
	}
}

// connected returns the voters other than this node that have a connection,
// dialling in the background those that have none (they join later rounds).
// Peers no longer in voters are dropped.
func (c *confirmer) connected(voters []raft.Server) []*confirmPeer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	out := make([]*confirmPeer, 0, len(voters))
	for id, p := range c.peers {
		if !slices.ContainsFunc(voters, func(s raft.Server) bool { return s.ID == id && s.Address == p.addr }) {
			if p.conn != nil {
				p.conn.Close()
			}
			delete(c.peers, id)
		}
	}
	now := time.Now()
	for _, s := range voters {
		if s.ID == c.self {
			continue
		}
		p := c.peers[s.ID]
		if p == nil {
			p = &confirmPeer{id: s.ID, addr: s.Address}
			c.peers[s.ID] = p
		}
		switch {
		case p.conn != nil:
			out = append(out, p)
		case !p.dialing && !now.Before(p.retryAt):
			p.dialing = true
			go c.dial(p)
		}
	}
	return out
}

func (c *confirmer) dial(p *confirmPeer) {
	conn, err := net.DialTimeout("tcp", string(p.addr), c.dialTimeout)
	if err == nil {
		if _, err = conn.Write(confirmHello(p.id)); err != nil {
			conn.Close()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.dialing = false
	if err != nil || c.done || c.peers[p.id] != p {
		if err == nil {
			conn.Close()
		}
		p.retryAt = redialAt(&p.failures)
		return
	}
	p.conn = conn
	go c.readAcks(p, conn)
}

// confirmHello opens a confirmation connection to the server id.
func confirmHello(id raft.ServerID) []byte { return hello(confirmMagic, id) }

// hello is the opening of a connection of the kind magic that names the
// server id (the one dialled, or the one dialling): magic, two length bytes
// and the ID, cut at 65,535 bytes.
func hello(magic byte, id raft.ServerID) []byte {
	n := min(len(id), 0xFFFF)
	b := []byte{magic, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(n))
	return append(b, id[:n]...)
}

// readHelloID reads the ID of a hello whose magic byte was read already.
func readHelloID(r io.Reader) (raft.ServerID, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	id := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(r, id); err != nil {
		return "", err
	}
	return raft.ServerID(id), nil
}

// send writes a request to p; false if p's connection failed.
func (c *confirmer) send(p *confirmPeer, req []byte) bool {
	c.mu.Lock()
	conn := p.conn
	c.mu.Unlock()
	if conn == nil {
		return false
	}
	_ = conn.SetWriteDeadline(time.Now().Add(c.dialTimeout))
	if _, err := conn.Write(req); err != nil {
		c.drop(p, conn)
		return false
	}
	return true
}

// drop closes p's connection (conn, or whichever it has if conn is nil) and
// holds off redialling.
func (c *confirmer) drop(p *confirmPeer, conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.conn == nil || (conn != nil && p.conn != conn) {
		return
	}
	p.conn.Close()
	p.conn = nil
	p.retryAt = redialAt(&p.failures)
}

// redialAt counts a failed connection and returns when to try again.
func redialAt(failures *int) time.Time {
	wait := confirmRedial << min(*failures, 6)
	*failures++
	return time.Now().Add(min(wait, confirmRedialMax))
}

// readAcks passes p's answers to the rounds until the connection fails.
func (c *confirmer) readAcks(p *confirmPeer, conn net.Conn) {
	br := bufio.NewReaderSize(conn, 512)
	var b [confirmFrame]byte
	for {
		if _, err := io.ReadFull(br, b[:]); err != nil {
			c.drop(p, conn)
			return
		}
		c.onAck(confirmAck{peer: p, seq: binary.BigEndian.Uint64(b[:8]), term: binary.BigEndian.Uint64(b[8:]), at: time.Now()})
	}
}

// close ends the round in flight unanswered and drops every connection;
// later rounds fail.
func (c *confirmer) close() {
	c.roundMu.Lock()
	r := c.cur
	c.roundMu.Unlock()
	c.abort(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	for _, p := range c.peers {
		if p.conn != nil {
			p.conn.Close()
			p.conn = nil
		}
	}
}
