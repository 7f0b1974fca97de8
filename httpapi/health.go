package httpapi

import (
	"fmt"
	"net/http"

	"github.com/riot-kv/riot-redis/cluster"
)

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	// Reason says why the node is not ready (empty when it is).
	Reason       string `json:"reason,omitempty"`
	ID           string `json:"id"`
	Role         string `json:"role,omitempty"`
	Leader       string `json:"leader,omitempty"`
	CommitIndex  uint64 `json:"commit_index,omitempty"`
	AppliedIndex uint64 `json:"applied_index,omitempty"`
}

// healthz answers 200 while the process serves HTTP: liveness only.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", ID: s.node.ID()})
}

// readiness reports whether this node can serve: a leader is known and the
// state machine has applied the commit index this node last heard, within
// Config.MaxReadyLag entries. The reason is empty when it is ready.
func (s *Server) readiness() Health {
	h := Health{Status: "ok", ID: s.node.ID(), Role: string(s.node.Role()),
		CommitIndex: s.node.CommitIndex(), AppliedIndex: s.node.FSM().AppliedIndex()}
	leader, ok := s.node.Leader()
	if ok {
		h.Leader = leader.ID
	}
	switch {
	case h.Role == string(cluster.RoleShutdown):
		h.Reason = "the node is shutting down"
	case !ok:
		h.Reason = "no leader known"
	case h.CommitIndex > h.AppliedIndex+s.cfg.MaxReadyLag:
		h.Reason = fmt.Sprintf("applied index %d trails commit index %d by more than %d entries",
			h.AppliedIndex, h.CommitIndex, s.cfg.MaxReadyLag)
	}
	if h.Reason != "" {
		h.Status = "unavailable"
	}
	return h
}

// readyz answers 200 when the node is ready, else 503 with the reason.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	h := s.readiness()
	status := http.StatusOK
	if h.Reason != "" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}
