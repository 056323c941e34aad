# Chat rooms over WebSocket and a news ticker over Server-Sent Events.
# Run it with:  go run ./cmd/pagi run examples/chat.hcl
# then open http://127.0.0.1:8080/ in two browser windows, and publish news with
#   curl -X POST http://127.0.0.1:8080/publish/news -d 'Hello, readers'

server {
  graceful_timeout = "5s"
}

listener "web" {
  address = env("PAGI_ADDRESS", "127.0.0.1:8080")
}

pubsub {
  backend = "memory" # one process; see docs/pubsub.md for Redis
  replay  = 50       # a reconnecting ticker gets what it missed
}

site "chat" {
  listeners = ["web"]

  route "GET /{$}" {
    static {
      root = "./chat"
    }
  }

  route "GET /assets/" {
    static {
      root = "./chat/assets"
    }
  }

  route "/ws/{room}" {
    websocket {
      channel   = "chat.{room}"
      keepalive = "30s"
    }
  }

  route "GET /events" {
    sse {
      channel   = "news"
      keepalive = "15s"
    }
  }

  route "POST /publish/{channel}" {
    publish {
      channel = "{channel}"
    }
  }
}
