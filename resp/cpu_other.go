//go:build !unix

package resp

// infoCPU writes nothing where the process's CPU time is not available.
func infoCPU(_ *client, _ *infoBuilder) {}
