package launcher

// Hooks for the tests of package launcher_test: settings that are no
// user-facing option.
var (
	WithSilentWait  = withSilentWait
	WithEOFExitWait = withEOFExitWait
)
