package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pagihq/pagi/config"
	"github.com/pagihq/pagi/pubsub"
)

// defaultReplay is how many messages per channel the memory broker keeps
// for SSE replay when the config does not say.
const defaultReplay = 100

// newBroker builds the pubsub backend a config asks for (memory when it has
// no pubsub block). It never waits for the network: a Redis that is down
// makes publishes fail until it is back, not the server's start.
func newBroker(ps *config.PubSub, log *slog.Logger) (pubsub.Broker, error) {
	if ps == nil {
		ps = &config.PubSub{Backend: "memory", Options: map[string]any{}}
	}
	queue, _ := ps.Options["queue_size"].(int)
	maxMsg, _ := ps.Options["max_message_bytes"].(int)
	switch ps.Backend {
	case "", "memory":
		replay := defaultReplay
		if n, ok := ps.Options["replay"].(int); ok {
			replay = n
		}
		return pubsub.NewMemory(pubsub.MemoryOptions{QueueSize: queue, History: replay, MaxMessageBytes: maxMsg, Logger: log}), nil
	case "redis":
		pool, _ := ps.Options["pool_size"].(int)
		dur := func(name string) time.Duration { d, _ := ps.Options[name].(time.Duration); return d }
		b, err := pubsub.NewRedis(pubsub.RedisOptions{
			URL: ps.URL, PoolSize: pool, QueueSize: queue, MaxMessageBytes: maxMsg, Logger: log,
			DialTimeout: dur("dial_timeout"), ReadTimeout: dur("read_timeout"), WriteTimeout: dur("write_timeout"),
		})
		if err != nil {
			return nil, fmt.Errorf("pubsub redis: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown pubsub backend %q", ps.Backend)
}
