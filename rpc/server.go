// Package rpc owns the gRPC service nodes use to relay work to the leader
// (RiotGossip: OpRPC, ReadIndex, Join, Remove, Transfer): the server that hands
// each call to the local node, a pooled client, and the one table that translates
// cluster errors to gRPC status codes and back. Commands and results cross the
// wire as opaque encoded bytes; encoding them is the state machine's business.
package rpc

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/rpc/riotpb"
)

// DefaultMaxMsgSize is the largest message, in bytes, the server and the client
// send or accept by default. Values can be large, so it is well above gRPC's 4 MiB.
const DefaultMaxMsgSize = 64 << 20

// DefaultStopTimeout bounds how long Server.Stop waits for in-flight calls before
// it closes every connection.
const DefaultStopTimeout = 5 * time.Second

// Node is what the server needs from the local node. Every method is leader-only:
// on a node that is not the leader it returns cluster.ErrNotLeader and never relays
// the call further, so a relay cannot loop.
type Node interface {
	// ProposeLocal proposes an encoded command and returns its encoded result.
	ProposeLocal(ctx context.Context, cmd []byte) ([]byte, error)
	// ReadIndexLocal returns the commit index confirmed while still leading.
	ReadIndexLocal(ctx context.Context) (uint64, error)
	// JoinLocal adds a member.
	JoinLocal(ctx context.Context, m cluster.Member) error
	// RemoveLocal removes the member with the given ID.
	RemoveLocal(ctx context.Context, id string) error
	// TransferLocal hands leadership to the member with the given ID, or to a
	// member of the leader's choosing when id is empty.
	TransferLocal(ctx context.Context, id string) error
}

// Server serves the RiotGossip service for one local node.
type Server struct {
	gs          *grpc.Server
	stopTimeout time.Duration
}

// NewServer returns a server that hands every call to n. The options are applied
// after the defaults (DefaultMaxMsgSize each way), so they can override them.
func NewServer(n Node, opts ...grpc.ServerOption) *Server {
	all := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(DefaultMaxMsgSize),
		grpc.MaxSendMsgSize(DefaultMaxMsgSize),
	}, opts...)
	gs := grpc.NewServer(all...)
	riotpb.RegisterRiotGossipServer(gs, &service{node: n})
	return &Server{gs: gs, stopTimeout: DefaultStopTimeout}
}

// Serve accepts connections on l until Stop is called. It returns nil after Stop.
func (s *Server) Serve(l net.Listener) error {
	err := s.gs.Serve(l)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop stops accepting connections and waits for in-flight calls to finish, at
// most DefaultStopTimeout; then it closes every connection, which cancels the
// calls still running.
func (s *Server) Stop() {
	done := make(chan struct{})
	go func() {
		s.gs.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(s.stopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.gs.Stop()
		<-done
	}
}

// service adapts Node to the generated server interface.
type service struct {
	riotpb.UnimplementedRiotGossipServer
	node Node
}

func (s *service) OpRPC(ctx context.Context, req *riotpb.OpRequest) (*riotpb.OpReply, error) {
	res, err := s.node.ProposeLocal(ctx, req.GetCommand())
	if err != nil {
		return nil, toStatus(err)
	}
	return &riotpb.OpReply{Result: res}, nil
}

func (s *service) ReadIndex(ctx context.Context, _ *riotpb.ReadIndexRequest) (*riotpb.ReadIndexReply, error) {
	idx, err := s.node.ReadIndexLocal(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &riotpb.ReadIndexReply{Index: idx}, nil
}

func (s *service) Join(ctx context.Context, req *riotpb.JoinRequest) (*riotpb.JoinReply, error) {
	if req.GetMember().GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "rpc: join: member has no id")
	}
	if err := s.node.JoinLocal(ctx, memberFromProto(req.GetMember())); err != nil {
		return nil, toStatus(err)
	}
	return &riotpb.JoinReply{}, nil
}

func (s *service) Remove(ctx context.Context, req *riotpb.RemoveRequest) (*riotpb.RemoveReply, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "rpc: remove: empty id")
	}
	if err := s.node.RemoveLocal(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &riotpb.RemoveReply{}, nil
}

func (s *service) Transfer(ctx context.Context, req *riotpb.TransferRequest) (*riotpb.TransferReply, error) {
	if err := s.node.TransferLocal(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &riotpb.TransferReply{}, nil
}

func memberToProto(m cluster.Member) *riotpb.Member {
	return &riotpb.Member{
		Id:       m.ID,
		RaftAddr: m.RaftAddr,
		RespAddr: m.RESPAddr,
		RpcAddr:  m.RPCAddr,
		HttpAddr: m.HTTPAddr,
		Voter:    m.Voter,
	}
}

func memberFromProto(m *riotpb.Member) cluster.Member {
	return cluster.Member{
		ID:       m.GetId(),
		RaftAddr: m.GetRaftAddr(),
		RESPAddr: m.GetRespAddr(),
		RPCAddr:  m.GetRpcAddr(),
		HTTPAddr: m.GetHttpAddr(),
		Voter:    m.GetVoter(),
	}
}
