# The middleware-chain benchmark site, shared by bench/chain.sh (wrk) and
# BenchmarkBareRoute/BenchmarkChainRoute in middleware/ (Go) and
# bench/instr.sh chain: one small response on a bare route, with the four
# header fields the chain adds, and behind the typical chain.
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
  # The floor of the chain: the four fields the chain adds (cors's two,
  # headers' one, request_id's one) sent by respond itself, no middleware.
  route "GET /fields" {
    respond {
      headers = {
        "content-type"                = "application/json"
        "access-control-allow-origin" = "https://app.example.com"
        "vary"                        = "Origin"
        "x-frame-options"             = "DENY"
        "x-request-id"                = "7db8cd001e96be8ea342f7af3cf2e099"
      }
      body = "{\"hello\":\"world\"}"
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
