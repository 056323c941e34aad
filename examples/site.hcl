# A small site: a greeting, a JSON health check, static files and a redirect.
# Run it with:  go run ./cmd/pagi run examples/site.hcl
# then open http://localhost:8080/

server {
  log_level        = "info"
  graceful_timeout = "10s"
}

listener "web" {
  address = env("PAGI_ADDRESS", "127.0.0.1:8080")
}

middleware "standard" {
  access_log {
    format = "combined"
  }
}

site "app" {
  listeners  = ["web"]
  middleware = ["standard"]

  route "GET /{$}" {
    static {
      root = "./public"
    }
  }

  route "GET /hello" {
    respond {
      body = "Hello from pagi\n"
    }
  }

  route "GET /health" {
    respond {
      headers = { "content-type" = "application/json" }
      body    = "{\"status\":\"ok\"}\n"
    }
  }

  route "/static/" {
    static {
      root = "./public"
    }
  }

  route "GET /old" {
    redirect {
      to     = "/hello"
      status = 308
    }
  }
}
