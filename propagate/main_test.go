package propagate_test

import (
	"os"
	"testing"

	"go.opentelemetry.io/otel"
)

func TestMain(m *testing.M) {
	// The baggage propagator reports malformed members to the global error
	// handler, which logs them; the tests feed it malformed members on
	// purpose.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	os.Exit(m.Run())
}
