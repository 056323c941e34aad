# The pagi side of bench/compliance.sh: one TLS listener with HTTP/2 (h2 by
# ALPN) and one cleartext listener with HTTP/2 (h2c, prior knowledge), both
# answering "hello" on every path with a `respond` route, which finishes a
# request without reading its body (what h2spec expects of "/").
#
# Everything else is left at pagi's defaults, which is what the run measures.
# The script sets the variables; by hand:
#
#   bench/compliance/gencert.sh /tmp/cc
#   PAGI_TLS_CERT=/tmp/cc/cert.pem PAGI_TLS_KEY=/tmp/cc/key.pem \
#     go run ./cmd/pagi run --no-watch bench/compliance/pagi.hcl

server {
  log_level = env("PAGI_LOG_LEVEL", "warn")
  watch     = false
}

listener "tls" {
  address = env("PAGI_TLS_ADDRESS", "127.0.0.1:18400")
  http2   = true
  tls {
    cert = env("PAGI_TLS_CERT")
    key  = env("PAGI_TLS_KEY")
  }
}

listener "h2c" {
  address = env("PAGI_H2C_ADDRESS", "127.0.0.1:18401")
  http2   = true
}

site "compliance" {
  listeners = ["tls", "h2c"]

  route "/" {
    respond {
      headers = { "content-type" = "text/plain; charset=utf-8" }
      body    = "hello"
    }
  }
}
