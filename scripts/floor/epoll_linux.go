package main

import (
	"errors"
	"net"
	"syscall"
)

// serveEpoll serves every connection from one goroutine: level-triggered
// epoll over non-blocking sockets, one read and at most one write per ready
// socket per round, as redis-server's event loop does. Accepting runs on
// Go's own poller and hands each socket over.
func serveEpoll(ln net.Listener) error {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			tc, ok := nc.(*net.TCPConn)
			if !ok {
				nc.Close()
				continue
			}
			fd, err := detach(tc)
			if err != nil {
				continue
			}
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
				_ = syscall.Close(fd)
			}
		}
	}()

	conns := make(map[int32]*conn)
	defer func() {
		for fd := range conns {
			_ = syscall.Close(int(fd))
		}
		_ = syscall.Close(ep)
	}()
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 16<<10)
	for {
		select {
		case err := <-errc:
			return err
		default:
		}
		n, err := syscall.EpollWait(ep, events, 100)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		for _, ev := range events[:n] {
			fd := ev.Fd
			c := conns[fd]
			if c == nil {
				c = &conn{}
				conns[fd] = c
			}
			k, err := syscall.Read(int(fd), buf)
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			var out []byte
			if k > 0 {
				out, err = c.feed(buf[:k])
			}
			if len(out) > 0 {
				// Replies are small; a full socket buffer closes the
				// connection rather than queueing (a floor, not a server).
				if w, werr := syscall.Write(int(fd), out); werr != nil || w < len(out) {
					err = errors.Join(err, syscall.EIO)
				}
			}
			if k <= 0 || err != nil {
				_ = syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
				_ = syscall.Close(int(fd))
				delete(conns, fd)
			}
		}
	}
}

// detach takes the socket out of Go's poller: a duplicate descriptor, set
// non-blocking, and the original closed.
func detach(tc *net.TCPConn) (int, error) {
	defer tc.Close()
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		fd, derr = syscall.Dup(int(s))
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}
