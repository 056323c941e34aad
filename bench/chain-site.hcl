# The middleware-chain benchmark site, shared by bench/chain.sh (wrk) and
# BenchmarkBareRoute/BenchmarkChainRoute in middleware/ (Go): one small
# response on a bare route and behind the typical chain.
middleware "typical" {
  forwarded {
    trusted_proxies = ["private_ranges"]
  }
  request_id {}
  access_log {
    output = "access.log"
  }
  headers {
    response {
      set = { "x-frame-options" = "DENY" }
    }
  }
  cors {
    origins = ["https://app.example.com"]
  }
  compress {}
}
site "s" {
  route "GET /bare" {
    respond {
      headers = { "content-type" = "application/json" }
      body    = "{\"hello\":\"world\"}"
    }
  }
  route "GET /chain" {
    middleware = ["typical"]
    respond {
      headers = { "content-type" = "application/json" }
      body    = "{\"hello\":\"world\"}"
    }
  }
}
