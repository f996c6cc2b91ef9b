package redisq

import (
	"go.opentelemetry.io/otel/attribute"
)

// Attribute keys. The messaging semantic conventions (semconv v1.43, the
// newest the Go module ships) define no messaging.system value for Redis
// streams and no system-independent delivery count (only
// messaging.servicebus.message.delivery_count and
// messaging.gcp_pubsub.message.delivery_attempt), so the CONSUMER span
// keeps messaging.system=otel_qrun and these name the broker and the count.
const (
	// BrokerKey names the broker: "redis".
	BrokerKey = attribute.Key("qrun.broker")
	// DeliveryCountKey is the entry's delivery count in the group when
	// read (XREADGROUP gives 1, each XAUTOCLAIM one more).
	DeliveryCountKey = attribute.Key("qrun.message.delivery_count")
	// ConsumerKey is the consumer name in the group (host-pid-random);
	// messaging.client.id stays the worker, as for every task span.
	ConsumerKey = attribute.Key("qrun.redis.consumer")
)

// Attributes returns the attributes the CONSUMER span of an attempt of e
// adds to those of every task span (messaging.system=otel_qrun,
// messaging.operation.type=process, messaging.client.id,
// qrun.task.attempt): messaging.destination.name (the stream, replacing
// the cluster name), messaging.consumer.group.name, messaging.message.id
// (the entry id), qrun.message.delivery_count, qrun.broker=redis,
// qrun.redis.consumer, server.address and server.port.
func (s *Source) Attributes(e *Entry) []attribute.KeyValue {
	return append(s.MetricAttributes(),
		attribute.String("messaging.message.id", e.ID),
		DeliveryCountKey.Int(e.Attempt),
		ConsumerKey.String(s.consumer),
	)
}

// MetricAttributes returns the bounded attributes of the source, for
// metrics as for spans: messaging.destination.name,
// messaging.consumer.group.name, qrun.broker, server.address, server.port.
func (s *Source) MetricAttributes() []attribute.KeyValue {
	u := s.c.URL()
	return []attribute.KeyValue{
		attribute.String("messaging.destination.name", s.stream),
		attribute.String("messaging.consumer.group.name", s.group),
		BrokerKey.String("redis"),
		attribute.String("server.address", u.Host),
		attribute.Int("server.port", u.Port),
	}
}
