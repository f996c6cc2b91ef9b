package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/term"
)

// EnvConsoleFormat chooses what the console exporters write: "json" (the
// Go SDK's stdouttrace and stdoutmetric objects, one a line), "text" (one
// short line per span, a metrics summary at shutdown), or "auto" (the
// default: text when the error writer is a terminal, json otherwise).
// Other values are an [ErrConfig] error.
const EnvConsoleFormat = "OTEL_QRUN_CONSOLE_FORMAT"

const (
	consoleAuto = "auto"
	consoleText = "text"
	consoleJSON = "json"
)

// consoleFormat returns "text" or "json" for the console exporters writing
// to w, as OTEL_QRUN_CONSOLE_FORMAT asks.
func consoleFormat(env environ, w io.Writer) (string, error) {
	raw := env.get(EnvConsoleFormat)
	switch strings.ToLower(raw) {
	case consoleText:
		return consoleText, nil
	case consoleJSON:
		return consoleJSON, nil
	case "", consoleAuto:
		if isTerminal(w) {
			return consoleText, nil
		}
		return consoleJSON, nil
	}
	return "", fmt.Errorf("%w: %s=%q: unknown console format (accepted: auto, text, json)", ErrConfig, EnvConsoleFormat, raw)
}

// isTerminal tells whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// textSpanExporter writes one line per span:
//
//	span "run sh" internal 12.3ms trace=… span=… parent=none status=unset qrun.worker.index=0 …
//
// with every attribute of the span, and the number of events and links when
// there are some. The resource is left out (see OTEL_QRUN_CONSOLE_FORMAT=json).
type textSpanExporter struct {
	w io.Writer
}

var _ sdktrace.SpanExporter = (*textSpanExporter)(nil)

func (e *textSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var b bytes.Buffer
	for _, s := range spans {
		formatSpan(&b, s)
	}
	_, err := e.w.Write(b.Bytes())
	return err
}

func (e *textSpanExporter) Shutdown(context.Context) error { return nil }

func formatSpan(b *bytes.Buffer, s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	parent := "none"
	if p := s.Parent(); p.IsValid() {
		parent = p.SpanID().String()
	}
	fmt.Fprintf(b, "span %s %s %s trace=%s span=%s parent=%s status=%s",
		strconv.Quote(s.Name()), strings.ToLower(strings.TrimPrefix(s.SpanKind().String(), "SpanKind")),
		roundDuration(s.EndTime().Sub(s.StartTime())), sc.TraceID(), sc.SpanID(), parent,
		strings.ToLower(s.Status().Code.String()))
	if st := s.Status(); st.Code == codes.Error && st.Description != "" {
		fmt.Fprintf(b, " error=%s", strconv.Quote(st.Description))
	}
	for _, kv := range s.Attributes() {
		writeAttr(b, kv)
	}
	if n := len(s.Events()); n > 0 {
		fmt.Fprintf(b, " events=%d", n)
	}
	if n := len(s.Links()); n > 0 {
		fmt.Fprintf(b, " links=%d", n)
	}
	b.WriteByte('\n')
}

// writeAttr writes " key=value", the value quoted when it is empty or holds
// a space, a quote or an equals sign.
func writeAttr(b *bytes.Buffer, kv attribute.KeyValue) {
	v := kv.Value.Emit()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s=%s", kv.Key, v)
}

// roundDuration keeps three significant digits, so 12.3456ms reads 12.3ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// textMetricExporter keeps the latest collection, as lines, and writes it
// at shutdown: one line per metric,
//
//	metric qrun.worker.starts: 2 {reason=initial}
//
// The data is cumulative, so the last collection is the summary of the
// whole run.
type textMetricExporter struct {
	w io.Writer

	mu       sync.Mutex
	latest   []byte
	shutDown bool // Shutdown was called
}

var _ sdkmetric.Exporter = (*textMetricExporter)(nil)

func (e *textMetricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (e *textMetricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *textMetricExporter) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	var b bytes.Buffer
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			formatMetric(&b, m)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latest = b.Bytes() // rm may be reused after Export: keep the text only
	return nil
}

func (e *textMetricExporter) ForceFlush(context.Context) error { return nil }

// Shutdown writes the summary of the last collection, once.
func (e *textMetricExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutDown {
		return nil
	}
	e.shutDown = true
	if len(e.latest) == 0 {
		return nil
	}
	_, err := e.w.Write(e.latest)
	return err
}

func formatMetric(b *bytes.Buffer, m metricdata.Metrics) {
	var points []string
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = sumPoints(d.DataPoints)
	case metricdata.Sum[float64]:
		points = sumPoints(d.DataPoints)
	case metricdata.Gauge[int64]:
		points = sumPoints(d.DataPoints)
	case metricdata.Gauge[float64]:
		points = sumPoints(d.DataPoints)
	case metricdata.Histogram[int64]:
		points = histogramPoints(d.DataPoints, m.Unit)
	case metricdata.Histogram[float64]:
		points = histogramPoints(d.DataPoints, m.Unit)
	default:
		points = []string{fmt.Sprintf("(%T)", m.Data)}
	}
	if len(points) == 0 {
		return
	}
	fmt.Fprintf(b, "metric %s: %s\n", m.Name, strings.Join(points, ", "))
}

func sumPoints[N int64 | float64](dps []metricdata.DataPoint[N]) []string {
	out := make([]string, 0, len(dps))
	for _, dp := range dps {
		out = append(out, fmt.Sprint(dp.Value)+attrSet(dp.Attributes))
	}
	return out
}

func histogramPoints[N int64 | float64](dps []metricdata.HistogramDataPoint[N], unit string) []string {
	out := make([]string, 0, len(dps))
	for _, dp := range dps {
		s := fmt.Sprintf("count=%d sum=%v%s", dp.Count, dp.Sum, unit)
		if mn, ok := dp.Min.Value(); ok {
			s += fmt.Sprintf(" min=%v%s", mn, unit)
		}
		if mx, ok := dp.Max.Value(); ok {
			s += fmt.Sprintf(" max=%v%s", mx, unit)
		}
		out = append(out, s+attrSet(dp.Attributes))
	}
	return out
}

// attrSet formats a metric point's attributes as " {k=v k=v}", or "".
func attrSet(set attribute.Set) string {
	if set.Len() == 0 {
		return ""
	}
	var b bytes.Buffer
	for _, kv := range set.ToSlice() {
		writeAttr(&b, kv)
	}
	return " {" + strings.TrimPrefix(b.String(), " ") + "}"
}
