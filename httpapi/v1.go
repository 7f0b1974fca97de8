package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/riot-kv/riot-redis/cluster"
)

// MemberInfo describes one member: its ID, addresses, suffrage and role.
type MemberInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	RESPAddr string `json:"resp_addr"`
	RPCAddr  string `json:"rpc_addr"`
	HTTPAddr string `json:"http_addr"`
	Voter    bool   `json:"voter"`
	Role     string `json:"role"`
}

func memberInfo(m cluster.Member) MemberInfo {
	return MemberInfo{ID: m.ID, RaftAddr: m.RaftAddr, RESPAddr: m.RESPAddr, RPCAddr: m.RPCAddr,
		HTTPAddr: m.HTTPAddr, Voter: m.Voter, Role: string(m.Role)}
}

// Status is the body of GET /v1/status: this node's view of itself.
type Status struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Term uint64 `json:"term"`
	// CommitIndex is the highest log index this node knows to be committed;
	// AppliedIndex the highest its state machine has applied.
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	// LastContact is the time since this follower last heard from its leader
	// (Raft's own text: "0" on the leader, "never" before any contact).
	LastContact string `json:"last_contact,omitempty"`
	// Leader is the leader this node knows of, or null.
	Leader *MemberInfo `json:"leader"`
}

func (s *Server) status() Status {
	st := s.node.Stats()
	lastLog, _ := strconv.ParseUint(st["last_log_index"], 10, 64)
	out := Status{
		ID:           s.node.ID(),
		Role:         string(s.node.Role()),
		Term:         s.node.Term(),
		CommitIndex:  s.node.CommitIndex(),
		AppliedIndex: s.node.FSM().AppliedIndex(),
		LastLogIndex: lastLog,
		LastContact:  st["last_contact"],
	}
	if m, ok := s.node.Leader(); ok {
		mi := memberInfo(m)
		out.Leader = &mi
	}
	return out
}

func (s *Server) v1Status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.status())
}

// ClusterMember is one member in GET /v1/cluster: its description and, when
// it answered, its own status. Lag is how many entries its applied index
// trails the leader's commit index.
type ClusterMember struct {
	MemberInfo
	Reachable    bool    `json:"reachable"`
	Error        string  `json:"error,omitempty"`
	Term         *uint64 `json:"term,omitempty"`
	CommitIndex  *uint64 `json:"commit_index,omitempty"`
	AppliedIndex *uint64 `json:"applied_index,omitempty"`
	Lag          *uint64 `json:"lag,omitempty"`
}

// ClusterStatus is the body of GET /v1/cluster.
type ClusterStatus struct {
	// ID is the answering node.
	ID string `json:"id"`
	// Leader is the leader's ID ("" when none is known).
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	// CommitIndex is the leader's commit index when the leader answered,
	// else the answering node's.
	CommitIndex uint64          `json:"commit_index"`
	Members     []ClusterMember `json:"members"`
}

// v1Cluster lists the members with each one's applied index and lag. Other
// members are asked for their /v1/status over HTTP, concurrently, each
// within Config.PeerTimeout; one that does not answer is listed as
// unreachable.
func (s *Server) v1Cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.requestContext(r)
	defer cancel()
	ms, err := s.node.Members(ctx)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	self := s.status()
	out := ClusterStatus{ID: self.ID, Term: self.Term, CommitIndex: self.CommitIndex,
		Members: make([]ClusterMember, len(ms))}
	if self.Leader != nil {
		out.Leader = self.Leader.ID
	}
	statuses := make([]*Status, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		out.Members[i] = ClusterMember{MemberInfo: memberInfo(m)}
		switch {
		case m.ID == self.ID:
			statuses[i] = &self
		case m.HTTPAddr == "":
			out.Members[i].Error = "no HTTP address known"
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := s.fetchStatus(ctx, m.HTTPAddr)
				if err != nil {
					s.log.Debug("member status unavailable", "id", m.ID, "http", m.HTTPAddr, "err", err)
					out.Members[i].Error = err.Error()
					return
				}
				statuses[i] = st
			}()
		}
	}
	wg.Wait()
	for _, st := range statuses {
		if st != nil && st.ID == out.Leader && out.Leader != "" {
			out.CommitIndex = st.CommitIndex
		}
	}
	for i, st := range statuses {
		if st == nil {
			continue
		}
		cm := &out.Members[i]
		cm.Reachable = true
		cm.Role = st.Role
		cm.Term, cm.CommitIndex, cm.AppliedIndex = &st.Term, &st.CommitIndex, &st.AppliedIndex
		lag := uint64(0)
		if out.CommitIndex > st.AppliedIndex {
			lag = out.CommitIndex - st.AppliedIndex
		}
		cm.Lag = &lag
	}
	writeJSON(w, http.StatusOK, out)
}

// fetchStatus gets a member's /v1/status.
func (s *Server) fetchStatus(ctx context.Context, httpAddr string) (*Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/v1/status", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.peers.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/status: %s", resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONBody)).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /v1/status: %w", err)
	}
	return &st, nil
}

// v1Members lists the members as this node knows them (no peer is asked).
func (s *Server) v1Members(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.requestContext(r)
	defer cancel()
	ms, err := s.node.Members(ctx)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	out := make([]MemberInfo, len(ms))
	for i, m := range ms {
		out[i] = memberInfo(m)
	}
	writeJSON(w, http.StatusOK, out)
}

// v1Join adds the member in the JSON body (a JoinRequest).
func (s *Server) v1Join(w http.ResponseWriter, r *http.Request) {
	m, err := decodeJoin(w, r, false)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if err := s.node.Join(ctx, m); err != nil {
		s.fail(w, r, err, true)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) v1Remove(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if err := s.node.Remove(ctx, r.PathValue("id")); err != nil {
		s.fail(w, r, err, true)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// v1Transfer hands leadership to ?id=, or to the most up-to-date follower.
func (s *Server) v1Transfer(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if err := s.node.Transfer(ctx, r.URL.Query().Get("id")); err != nil {
		s.fail(w, r, err, true)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
