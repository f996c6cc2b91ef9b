//go:build !linux

package launcher_test

import "errors"

// adoptOrphans: there is no child subreaper outside Linux.
func adoptOrphans() error { return errors.New("child subreaper is Linux only") }
