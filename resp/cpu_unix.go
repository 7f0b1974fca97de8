//go:build unix

package resp

import (
	"strconv"
	"syscall"
)

// infoCPU writes INFO cpu: the process's and its children's CPU time in
// seconds, as Redis reports them (Riot has no single main thread, so
// Redis's *_main_thread fields are left out).
func infoCPU(_ *client, b *infoBuilder) {
	var self, children syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) != nil {
		return
	}
	secs := func(tv syscall.Timeval) string {
		return strconv.FormatFloat(float64(tv.Sec)+float64(tv.Usec)/1e6, 'f', 6, 64)
	}
	b.str("used_cpu_sys", secs(self.Stime))
	b.str("used_cpu_user", secs(self.Utime))
	b.str("used_cpu_sys_children", secs(children.Stime))
	b.str("used_cpu_user_children", secs(children.Utime))
}
