package pubsub

import (
	"context"
	"github.com/pagihq/pagi/internal/redistest"
	"strconv"
	"sync"
	"testing"
	"time"
)

const benchSubscribers = 10000

// BenchmarkMemoryFanOut publishes one 64-byte message to 10,000 subscribers
// per op. ns/op is the cost of one publish, ns/delivery that cost divided
// among the subscribers.
//
// drained: the queues are emptied between publishes with the timer
// stopped, so only Publish is measured. consumers: each subscriber has its
// own goroutine reading its queue, as in a server.
func BenchmarkMemoryFanOut(b *testing.B) {
	data := make([]byte, 64)
	b.Run("drained", func(b *testing.B) {
		m := NewMemory(MemoryOptions{QueueSize: 64, Logger: newDiscardLogger()})
		defer m.Close()
		subs := make([]Subscription, benchSubscribers)
		for i := range subs {
			subs[i], _ = m.Subscribe(context.Background(), "room")
		}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := m.Publish(ctx, "room", Message{Data: data}); err != nil {
				b.Fatal(err)
			}
			if i%32 == 31 {
				b.StopTimer()
				for _, s := range subs {
					for len(s.C()) > 0 {
						<-s.C()
					}
				}
				b.StartTimer()
			}
		}
		b.StopTimer()
		reportFanOut(b, m)
	})
	b.Run("consumers", func(b *testing.B) {
		m := NewMemory(MemoryOptions{Logger: newDiscardLogger()})
		var wg sync.WaitGroup
		for range benchSubscribers {
			s, _ := m.Subscribe(context.Background(), "room")
			wg.Go(func() {
				for range s.C() {
				}
			})
		}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := m.Publish(ctx, "room", Message{Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportFanOut(b, m)
		_ = m.Close()
		wg.Wait()
	})
}

func reportFanOut(b *testing.B, m *Memory) {
	st := m.Stats()
	elapsed := b.Elapsed()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/benchSubscribers, "ns/delivery")
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "drops/op")
}

// BenchmarkRedisRoundTrip measures publish → receive through a real
// redis-server on localhost, from one broker to another's subscriber.
// roundtrip waits for each message before publishing the next (latency);
// stream publishes from one goroutine and receives in another
// (throughput, ns per message).
func BenchmarkRedisRoundTrip(b *testing.B) {
	srv := redistest.Start(b)
	pub, err := NewRedis(RedisOptions{URL: srv.URL(), Logger: newDiscardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	recvr, err := NewRedis(RedisOptions{URL: srv.URL(), QueueSize: 4096, Logger: newDiscardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer recvr.Close()
	ctx := context.Background()
	sub, _ := recvr.Subscribe(ctx, "room")
	// Wait for the subscription to be live.
	deadline := time.Now().Add(5 * time.Second)
	for ready := false; !ready; {
		_ = pub.Publish(ctx, "room", Message{Data: []byte("warmup")})
		select {
		case <-sub.C():
			ready = true
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				b.Fatal("subscription not live")
			}
		}
	}
	for len(sub.C()) > 0 {
		<-sub.C()
	}
	data := make([]byte, 64)
	b.Run("roundtrip", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := pub.Publish(ctx, "room", Message{Data: data, ID: strconv.Itoa(i)}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-sub.C():
			case <-time.After(5 * time.Second):
				b.Fatal("message lost")
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		done := make(chan int)
		go func() {
			n := 0
			timeout := time.NewTimer(time.Second)
			defer timeout.Stop()
			for n < b.N {
				select {
				case <-sub.C():
					n++
				case <-timeout.C:
					done <- n
					return
				}
				if !timeout.Stop() {
					<-timeout.C
				}
				timeout.Reset(time.Second)
			}
			done <- n
		}()
		for i := 0; i < b.N; i++ {
			if err := pub.Publish(ctx, "room", Message{Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		if n := <-done; n != b.N {
			b.ReportMetric(float64(b.N-n), "lost")
		}
	})
}
