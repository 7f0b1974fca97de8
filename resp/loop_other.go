//go:build !linux

package resp

import (
	"errors"
	"net"
)

// loopSupported reports whether Config.EventLoop can be used here: the
// event loop is built on epoll.
const loopSupported = false

func (s *Server) startLoop(net.Listener) error {
	return errors.New("resp: the event loop needs Linux")
}
