package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

// The key operations shared by /riot and /v1/kv. Each records itself in the
// command metrics under the Redis command it performs; a read of a missing
// key is not a failure.

func (s *Server) get(ctx context.Context, lvl cluster.Consistency, key []byte) ([]byte, error) {
	start := time.Now()
	var (
		val []byte
		ok  bool
	)
	err := s.node.Read(ctx, lvl, func(f *fsm.FSM) error {
		var err error
		val, ok, err = f.Get(key, time.Now().UnixMilli())
		return err
	})
	s.metrics.Observe("get", time.Since(start), err != nil)
	if err == nil && !ok {
		err = fmt.Errorf("%w: key %q", ErrNotFound, key)
	}
	return val, err
}

func (s *Server) set(ctx context.Context, key, val []byte) error {
	start := time.Now()
	res, err := s.node.Propose(ctx, fsm.NewSet(key, val, fsm.SetOptions{}))
	if err == nil && res.IsError() {
		err = fmt.Errorf("%w: %s", ErrOperation, res.Err)
	}
	s.metrics.Observe("set", time.Since(start), err != nil)
	return err
}

// del deletes key and returns how many keys it removed (0 or 1).
func (s *Server) del(ctx context.Context, key []byte) (int64, error) {
	start := time.Now()
	res, err := s.node.Propose(ctx, fsm.NewDel(key))
	switch {
	case err != nil:
	case res.IsError():
		err = fmt.Errorf("%w: %s", ErrOperation, res.Err)
	case res.Kind != fsm.ResultInt:
		err = fmt.Errorf("unexpected DEL result %v", res)
	}
	s.metrics.Observe("del", time.Since(start), err != nil)
	return res.Int, err
}

// writeValue sends a stored value as it is.
func writeValue(w http.ResponseWriter, val []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(val)
}

// REST: /v1/kv/{key...}. The key is the rest of the path, unescaped, so it
// may contain slashes (and any byte, percent-encoded).

func (s *Server) kvKey(r *http.Request) ([]byte, error) {
	k := r.PathValue("key")
	if k == "" {
		return nil, ErrInvalidKey
	}
	return []byte(k), nil
}

func (s *Server) kvGet(w http.ResponseWriter, r *http.Request) { s.serveGet(w, r, s.kvKey) }

func (s *Server) kvPut(w http.ResponseWriter, r *http.Request) {
	s.serveSet(w, r, s.kvKey, func(w http.ResponseWriter, _ time.Time) { w.WriteHeader(http.StatusNoContent) })
}

// kvDeleteReply is the body of DELETE /v1/kv/{key}.
type kvDeleteReply struct {
	Deleted int64 `json:"deleted"`
}

func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request) {
	s.serveDelete(w, r, s.kvKey, func(w http.ResponseWriter, _ time.Time, n int64) {
		writeJSON(w, http.StatusOK, kvDeleteReply{Deleted: n})
	})
}

// The original /riot endpoints and /v1/kv differ only in where the key comes
// from and how the reply looks; serveGet, serveSet and serveDelete hold the
// rest once.

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, keyOf func(*http.Request) ([]byte, error)) {
	key, err := keyOf(r)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	lvl, err := s.consistency(r)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	val, err := s.get(ctx, lvl, key)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	writeValue(w, val)
}

func (s *Server) serveSet(w http.ResponseWriter, r *http.Request, keyOf func(*http.Request) ([]byte, error),
	reply func(w http.ResponseWriter, start time.Time)) {
	start := time.Now()
	key, err := keyOf(r)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	val, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if err := s.set(ctx, key, val); err != nil {
		s.fail(w, r, err, true)
		return
	}
	reply(w, start)
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, keyOf func(*http.Request) ([]byte, error),
	reply func(w http.ResponseWriter, start time.Time, n int64)) {
	start := time.Now()
	key, err := keyOf(r)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	n, err := s.del(ctx, key)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	reply(w, start, n)
}
