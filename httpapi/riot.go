package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/riot-kv/riot-redis/cluster"
)

// The original Riot interface: /riot?key=K for keys, /admin/* for the
// cluster. Successful admin calls answer with the original envelope; errors,
// everywhere, with ErrorBody.

// Envelope is the original Riot reply of the /admin endpoints and of writes
// on /riot: the result, an error number (0: none) and the time the request
// took, in seconds.
type Envelope struct {
	Results any     `json:"results"`
	Error   int     `json:"error"`
	Time    float64 `json:"time"`
}

func writeEnvelope(w http.ResponseWriter, start time.Time, results any) {
	writeJSON(w, http.StatusOK, Envelope{Results: results, Time: time.Since(start).Seconds()})
}

// riotKey returns the key query parameter, which must be present and
// non-empty.
func riotKey(r *http.Request) ([]byte, error) {
	k := r.URL.Query().Get("key")
	if k == "" {
		return nil, ErrInvalidKey
	}
	return []byte(k), nil
}

// riotGet answers GET /riot?key=K with the raw value. It also accepts the
// REST consistency parameter.
func (s *Server) riotGet(w http.ResponseWriter, r *http.Request) { s.serveGet(w, r, riotKey) }

// riotSet answers POST (or PUT) /riot?key=K: the body is the value.
func (s *Server) riotSet(w http.ResponseWriter, r *http.Request) {
	s.serveSet(w, r, riotKey, func(w http.ResponseWriter, start time.Time) { writeEnvelope(w, start, "OK") })
}

// riotDelete answers DELETE /riot?key=K with the number of keys removed (0
// when it did not exist: deleting is idempotent).
func (s *Server) riotDelete(w http.ResponseWriter, r *http.Request) {
	s.serveDelete(w, r, riotKey, func(w http.ResponseWriter, start time.Time, n int64) { writeEnvelope(w, start, n) })
}

// originalRole is a role as the original Riot named it.
func originalRole(r cluster.Role) string {
	switch r {
	case cluster.RoleLeader:
		return "Leader"
	case cluster.RoleFollower:
		return "Follower"
	case cluster.RoleCandidate:
		return "Candidate"
	case cluster.RoleShutdown:
		return "Shutdown"
	}
	return string(r)
}

func (s *Server) adminStatus(w http.ResponseWriter, r *http.Request) {
	writeEnvelope(w, time.Now(), originalRole(s.node.Role()))
}

// adminPeer answers with the Raft addresses of all members.
func (s *Server) adminPeer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, cancel := s.requestContext(r)
	defer cancel()
	ms, err := s.node.Members(ctx)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	addrs := make([]string, 0, len(ms))
	for _, m := range ms {
		addrs = append(addrs, m.RaftAddr)
	}
	writeEnvelope(w, start, addrs)
}

// adminLeader answers with the leader's Raft address.
func (s *Server) adminLeader(w http.ResponseWriter, r *http.Request) {
	m, ok := s.node.Leader()
	if !ok {
		s.fail(w, r, cluster.ErrNoLeader, false)
		return
	}
	writeEnvelope(w, time.Now(), m.RaftAddr)
}

// JoinRequest is the body of POST /admin/join and POST /v1/cluster/members.
// /admin/join also takes the same names as query parameters. Addr is the
// original Riot name of RaftAddr. Voter defaults to true.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	Addr     string `json:"addr,omitempty"`
	RESPAddr string `json:"resp_addr,omitempty"`
	RPCAddr  string `json:"rpc_addr,omitempty"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Voter    *bool  `json:"voter,omitempty"`
}

// member validates the request and returns the member to add.
func (j JoinRequest) member() (cluster.Member, error) {
	if j.RaftAddr == "" {
		j.RaftAddr = j.Addr
	}
	if j.ID == "" || j.RaftAddr == "" {
		return cluster.Member{}, fmt.Errorf("%w: join needs an id and a raft_addr", ErrBadRequest)
	}
	voter := j.Voter == nil || *j.Voter
	return cluster.Member{ID: j.ID, RaftAddr: j.RaftAddr, RESPAddr: j.RESPAddr, RPCAddr: j.RPCAddr,
		HTTPAddr: j.HTTPAddr, Voter: voter}, nil
}

// decodeJoin reads a JoinRequest from a JSON body and, when allowQuery is
// set, from query parameters (which fill what the body left empty).
func decodeJoin(w http.ResponseWriter, r *http.Request, allowQuery bool) (cluster.Member, error) {
	var j JoinRequest
	body, err := readBody(w, r, maxJSONBody)
	if err != nil {
		return cluster.Member{}, err
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &j); err != nil {
			return cluster.Member{}, fmt.Errorf("%w: join body: %v", ErrBadRequest, err)
		}
	}
	if allowQuery {
		q := r.URL.Query()
		for _, f := range []struct {
			dst  *string
			name string
		}{
			{&j.ID, "id"}, {&j.RaftAddr, "raft_addr"}, {&j.Addr, "addr"}, {&j.RESPAddr, "resp_addr"},
			{&j.RPCAddr, "rpc_addr"}, {&j.HTTPAddr, "http_addr"},
		} {
			if *f.dst == "" {
				*f.dst = q.Get(f.name)
			}
		}
		if v := q.Get("voter"); v != "" && j.Voter == nil {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cluster.Member{}, fmt.Errorf("%w: voter %q is not a boolean", ErrBadRequest, v)
			}
			j.Voter = &b
		}
	}
	return j.member()
}

func (s *Server) adminJoin(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m, err := decodeJoin(w, r, true)
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
	writeEnvelope(w, start, "OK")
}

func (s *Server) adminRemove(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.URL.Query().Get("id")
	if id == "" {
		s.fail(w, r, fmt.Errorf("%w: remove needs an id", ErrBadRequest), false)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if err := s.node.Remove(ctx, id); err != nil {
		s.fail(w, r, err, true)
		return
	}
	writeEnvelope(w, start, "OK")
}

// adminSnapshot takes a Raft snapshot of this node now.
func (s *Server) adminSnapshot(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if err := s.node.Snapshot(); err != nil {
		s.fail(w, r, err, false)
		return
	}
	writeEnvelope(w, start, "OK")
}
