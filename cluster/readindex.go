package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// A follower's linearizable reads need the leader's read index. Concurrent
// reads share one request (n.remoteIndex); the request goes over a
// connection on the leader's Raft port, which costs both sides a fraction of
// a gRPC call (a fifth of a leader's CPU went to gRPC under reads spread over
// three nodes). If that connection cannot be made (a leader of an older
// version closes it at once), the request goes over gRPC as before.
//
// A request that names the follower and carries its current term lets the
// leader skip its leadership confirmation when the follower completes a
// quorum with it (a 3-node cluster): see Node.readIndexFor.
//
// Wire format (big-endian): the follower sends readIndexIDMagic once and its
// server ID (two length bytes and the ID), then requests of 16 bytes (a
// sequence number and the follower's current term); the leader answers each,
// in order, with 17 bytes: the sequence number, the read index, and a status
// byte (readIndexStatus: 0 for success, else the error). A connection that
// starts with readIndexMagic instead carries no ID and requests of 8 bytes
// (the sequence number only), as earlier versions send.

const (
	// readIndexMagic is the first byte of a read-index connection without
	// the follower's ID; readIndexIDMagic of one with it.
	readIndexMagic   byte = 0xC8
	readIndexIDMagic byte = 0xC9
	readIndexReq          = 8  // without the term
	readIndexIDReq        = 16 // with the term
	readIndexResp         = 17
)

// readIndexStatus lists the errors a read-index answer can carry, by status
// byte; 0 is success. Any other error travels as statusOther and reads as
// ErrNoLeader on the follower (a read can always be retried).
var readIndexStatus = []error{nil, ErrNotLeader, ErrNoLeader, ErrNotReady, ErrClosed, ErrTimeout}

const statusOther = 255

func readIndexCode(err error) byte {
	if err == nil {
		return 0
	}
	for i, e := range readIndexStatus[1:] {
		if errors.Is(err, e) {
			return byte(i + 1)
		}
	}
	return statusOther
}

func readIndexErr(code byte) error {
	if int(code) < len(readIndexStatus) {
		return readIndexStatus[code]
	}
	return ErrNoLeader
}

// readIndexFunc answers a read-index request from the follower from, sent
// in its term term; from is empty and term 0 when the request does not say.
type readIndexFunc func(ctx context.Context, from raft.ServerID, term uint64) (uint64, error)

// serveReadIndex answers read-index requests on c with fn, one at a time,
// each bounded by timeout, until c fails or closes. withID says the
// connection started with readIndexIDMagic: an ID follows, and requests
// carry a term.
func serveReadIndex(c net.Conn, withID bool, fn readIndexFunc, timeout time.Duration) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 256)
	var from raft.ServerID
	size := readIndexReq
	if withID {
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		id, err := readHelloID(br)
		if err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		from, size = id, readIndexIDReq
	}
	var req [readIndexIDReq]byte
	var resp [readIndexResp]byte
	for {
		if _, err := io.ReadFull(br, req[:size]); err != nil {
			return
		}
		var term uint64
		if withID {
			term = binary.BigEndian.Uint64(req[8:16])
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		idx, err := fn(ctx, from, term)
		cancel()
		copy(resp[:8], req[:8])
		binary.BigEndian.PutUint64(resp[8:16], idx)
		resp[16] = readIndexCode(err)
		if _, err := c.Write(resp[:]); err != nil {
			return
		}
	}
}

// indexClient is a follower's connection to the leader's read-index
// service. Calls run one at a time.
type indexClient struct {
	dialTimeout time.Duration
	// self and term name this follower and read its current term for each
	// request; without self the connection carries neither
	// (readIndexMagic).
	self raft.ServerID
	term func() uint64

	mu       sync.Mutex         // one call at a time; guards the fields below but conn
	addr     raft.ServerAddress // the leader connected to, or last tried
	br       *bufio.Reader
	seq      uint64
	retryAt  time.Time // after a failure, no new connection before then
	failures int       // connections in a row that failed before an answer

	connMu sync.Mutex // guards conn and done, so close need not wait for a call
	conn   net.Conn
	done   bool
}

// readIndex asks the leader at addr for its read index. ok is false if the
// connection failed, and the caller should ask another way; otherwise err is
// the leader's answer, or ErrTimeout if none came within timeout.
func (c *indexClient) readIndex(addr raft.ServerAddress, timeout time.Duration) (idx uint64, err error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conn, err := c.connect(addr)
	if err != nil || conn == nil {
		return 0, err, err != nil
	}
	c.seq++
	var req [readIndexIDReq]byte
	binary.BigEndian.PutUint64(req[:], c.seq)
	size := readIndexReq
	if c.self != "" {
		// Read after the call began, so after every read it serves arrived.
		binary.BigEndian.PutUint64(req[8:], c.term())
		size = readIndexIDReq
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(req[:size]); err != nil {
		c.drop(conn)
		return 0, nil, false
	}
	var resp [readIndexResp]byte
	if _, err := io.ReadFull(c.br, resp[:]); err != nil || binary.BigEndian.Uint64(resp[:8]) != c.seq {
		c.drop(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, ErrTimeout, true
		}
		return 0, nil, false
	}
	c.failures = 0
	return binary.BigEndian.Uint64(resp[8:16]), readIndexErr(resp[16]), true
}

// connect returns the connection to addr, dialling it if needed: nil (and no
// error) if there is none to use now, ErrClosed once closed.
func (c *indexClient) connect(addr raft.ServerAddress) (net.Conn, error) {
	c.connMu.Lock()
	conn, done := c.conn, c.done
	c.connMu.Unlock()
	if done {
		return nil, ErrClosed
	}
	if addr != c.addr {
		// The leader changed: the old connection and its failures do not
		// speak for the new one.
		if conn != nil {
			c.release(conn)
			conn = nil
		}
		c.addr, c.retryAt, c.failures = addr, time.Time{}, 0
	}
	if conn != nil {
		return conn, nil
	}
	if time.Now().Before(c.retryAt) {
		return nil, nil
	}
	conn, err := net.DialTimeout("tcp", string(addr), c.dialTimeout)
	if err == nil {
		open := []byte{readIndexMagic}
		if c.self != "" {
			open = hello(readIndexIDMagic, c.self)
		}
		_, err = conn.Write(open)
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		c.retryAt = redialAt(&c.failures)
		return nil, nil
	}
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.done {
		conn.Close()
		return nil, ErrClosed
	}
	c.conn, c.br = conn, bufio.NewReaderSize(conn, 256)
	return conn, nil
}

// drop closes a failed conn and holds off the next connection.
func (c *indexClient) drop(conn net.Conn) {
	c.release(conn)
	c.retryAt = redialAt(&c.failures)
}

// release closes conn and forgets it.
func (c *indexClient) release(conn net.Conn) {
	conn.Close()
	c.connMu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.connMu.Unlock()
}

// close closes the connection, interrupting a call, and fails later calls.
func (c *indexClient) close() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.done = true
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
