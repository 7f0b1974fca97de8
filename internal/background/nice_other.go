//go:build !linux

package background

import "errors"

// lower does nothing where the nice value belongs to the whole process: it
// would lower the client-facing threads too.
func lower() {}

func threadNice() (int, error) { return 0, errors.ErrUnsupported }
