package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/rpc/riotpb"
)

// DefaultTimeout is the deadline of a call whose context has none.
const DefaultTimeout = 5 * time.Second

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// Timeout is the deadline of a call whose context has none; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxMsgSize is the largest message, in bytes, sent or accepted; zero means
	// DefaultMaxMsgSize.
	MaxMsgSize int
	// DialOptions are applied after the client's own (insecure transport
	// credentials, message sizes, retries off), so they can override them.
	DialOptions []grpc.DialOption
}

// Client calls the RiotGossip service of other nodes. It keeps one connection per
// target address, made on first use and shared by all calls to that address. A
// connection whose call fails with Unavailable (node restarted, leader moved) is
// dropped, and the next call to that address dials afresh. A Client is safe for
// concurrent use.
type Client struct {
	timeout  time.Duration
	dialOpts []grpc.DialOption

	mu     sync.Mutex
	closed bool
	conns  map[string]*conn
}

// conn is one pooled connection. refs counts the calls using it; a dropped conn
// is out of the pool and is closed when its last call ends. All fields but addr,
// cc and stub are guarded by Client.mu.
type conn struct {
	addr    string
	cc      *grpc.ClientConn
	stub    riotpb.RiotGossipClient
	refs    int
	dropped bool
	closed  bool
}

// NewClient returns a client with no connection yet.
func NewClient(opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxMsgSize <= 0 {
		opts.MaxMsgSize = DefaultMaxMsgSize
	}
	dial := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// No retries but gRPC's transparent ones, which only resend a request the
		// server never processed; and no service config from name resolution,
		// which could turn retries on. A write is never sent twice by this layer.
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(opts.MaxMsgSize),
			grpc.MaxCallSendMsgSize(opts.MaxMsgSize),
		),
	}, opts.DialOptions...)
	return &Client{
		timeout:  opts.Timeout,
		dialOpts: dial,
		conns:    make(map[string]*conn),
	}
}

// Propose relays an encoded command to the node at addr (the leader) and returns
// the encoded result. A failure after the request may have been sent is
// cluster.ErrUnknownOutcome: the command may have been applied.
func (c *Client) Propose(ctx context.Context, addr string, cmd []byte) ([]byte, error) {
	rep, err := invoke(c, ctx, addr, "OpRPC", writeCall,
		func(ctx context.Context, s riotpb.RiotGossipClient, o ...grpc.CallOption) (*riotpb.OpReply, error) {
			return s.OpRPC(ctx, &riotpb.OpRequest{Command: cmd}, o...)
		})
	if err != nil {
		return nil, err
	}
	return rep.GetResult(), nil
}

// ReadIndex asks the node at addr (the leader) for its confirmed commit index.
func (c *Client) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	rep, err := invoke(c, ctx, addr, "ReadIndex", readCall,
		func(ctx context.Context, s riotpb.RiotGossipClient, o ...grpc.CallOption) (*riotpb.ReadIndexReply, error) {
			return s.ReadIndex(ctx, &riotpb.ReadIndexRequest{}, o...)
		})
	if err != nil {
		return 0, err
	}
	return rep.GetIndex(), nil
}

// Join asks the node at addr (the leader) to add m. m.Role is not sent.
func (c *Client) Join(ctx context.Context, addr string, m cluster.Member) error {
	_, err := invoke(c, ctx, addr, "Join", writeCall,
		func(ctx context.Context, s riotpb.RiotGossipClient, o ...grpc.CallOption) (*riotpb.JoinReply, error) {
			return s.Join(ctx, &riotpb.JoinRequest{Member: memberToProto(m)}, o...)
		})
	return err
}

// Remove asks the node at addr (the leader) to remove the member with the given ID.
func (c *Client) Remove(ctx context.Context, addr string, id string) error {
	_, err := invoke(c, ctx, addr, "Remove", writeCall,
		func(ctx context.Context, s riotpb.RiotGossipClient, o ...grpc.CallOption) (*riotpb.RemoveReply, error) {
			return s.Remove(ctx, &riotpb.RemoveRequest{Id: id}, o...)
		})
	return err
}

// Transfer asks the node at addr (the leader) to hand leadership to the member
// with the given ID, or to one of its choosing when id is empty.
func (c *Client) Transfer(ctx context.Context, addr string, id string) error {
	_, err := invoke(c, ctx, addr, "Transfer", writeCall,
		func(ctx context.Context, s riotpb.RiotGossipClient, o ...grpc.CallOption) (*riotpb.TransferReply, error) {
			return s.Transfer(ctx, &riotpb.TransferRequest{Id: id}, o...)
		})
	return err
}

// Close closes every pooled connection; calls in flight on them fail, and later
// calls return cluster.ErrClosed. A connection already dropped from the pool is
// closed when its last call ends.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var ccs []*grpc.ClientConn
	for addr, cn := range c.conns {
		cn.dropped = true
		cn.closed = true
		delete(c.conns, addr)
		ccs = append(ccs, cn.cc)
	}
	c.mu.Unlock()
	var errs []error
	for _, cc := range ccs {
		if err := cc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// invoke runs one call against addr with a deadline, through the pool, and
// translates its error once.
func invoke[R any](c *Client, ctx context.Context, addr, method string, kind callKind,
	call func(context.Context, riotpb.RiotGossipClient, ...grpc.CallOption) (R, error)) (R, error) {
	var zero R
	cn, err := c.acquire(addr)
	if err != nil {
		return zero, err
	}
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	if err := ctx.Err(); err != nil {
		c.release(cn, false)
		return zero, fromCallError(ctx, status.FromContextError(err).Err(), false, kind, method, addr)
	}
	var p peer.Peer
	rep, err := call(ctx, cn.stub, grpc.Peer(&p))
	if err == nil {
		c.release(cn, false)
		return rep, nil
	}
	// The Peer option is filled in only when a transport stream was opened for
	// the call's last attempt, that is when the request may have reached the
	// server (an earlier, transparently retried attempt was never processed).
	sent := p.Addr != nil
	out := fromCallError(ctx, err, sent, kind, method, addr)
	drop := status.Code(err) == codes.Unavailable && sentinelFromStatus(status.Convert(err)) == nil
	c.release(cn, drop)
	return zero, out
}

// withDeadline returns ctx if it has a deadline, else ctx with the default one.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// acquire returns the pooled connection to addr, creating it if needed, and
// counts one more call on it.
func (c *Client) acquire(addr string) (*conn, error) {
	if addr == "" {
		return nil, cluster.ErrNoLeader
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, cluster.ErrClosed
	}
	cn, ok := c.conns[addr]
	if !ok {
		cc, err := grpc.NewClient(addr, c.dialOpts...)
		if err != nil {
			return nil, fmt.Errorf("%w: rpc to %s: %w", cluster.ErrNoLeader, addr, err)
		}
		cn = &conn{addr: addr, cc: cc, stub: riotpb.NewRiotGossipClient(cc)}
		c.conns[addr] = cn
	}
	cn.refs++
	return cn, nil
}

// release ends one call on cn. drop takes cn out of the pool; a conn out of the
// pool is closed once no call uses it.
func (c *Client) release(cn *conn, drop bool) {
	c.mu.Lock()
	cn.refs--
	if drop && !cn.dropped {
		cn.dropped = true
		if c.conns[cn.addr] == cn {
			delete(c.conns, cn.addr)
		}
	}
	closeNow := cn.dropped && cn.refs == 0 && !cn.closed
	if closeNow {
		cn.closed = true
	}
	c.mu.Unlock()
	if closeNow {
		// The conn is out of the pool and unused; an error closing it has no
		// one to report to.
		_ = cn.cc.Close()
	}
}
