package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// brokenCase is a config with one error we expect at pos (line:col) of
// file (site.hcl, the main file, when empty), its message containing want.
// In want, $DIR/ stands for the test directory.
type brokenCase struct {
	name  string
	src   string
	setup func(t *testing.T, dir string)
	file  string
	pos   string
	want  string
}

var brokenCases = []brokenCase{
	{name: "syntax error", src: "server {\n  workers = = 1\n}\n",
		pos: "2:13", want: "Invalid expression"},
	{name: "unclosed block", src: "server {\n  workers = 1\n",
		pos: "1:8", want: "Unclosed configuration block"},
	{name: "unknown top-level block", src: "lisener \"web\" {\n}\n",
		pos: "1:1", want: `unknown block type "lisener"; did you mean "listener"?`},
	{name: "top-level attribute", src: "workers = 2\n",
		pos: "1:1", want: `unexpected attribute "workers" at the top level`},
	{name: "handler at top level", src: "respond {}\n",
		pos: "1:1", want: `handler "respond" cannot be used at the top level`},
	{name: "unknown server attribute", src: "server {\n  log_levle = \"info\"\n}\n",
		pos: "2:3", want: `unknown attribute "log_levle" in the server block; did you mean "log_level"?`},
	{name: "string for int", src: "server {\n  workers = \"two\"\n}\n",
		pos: "2:13", want: `wrong type for "workers": expected a whole number, got a string`},
	{name: "list for string", src: "server {\n  log_level = [\"info\"]\n}\n",
		pos: "2:15", want: `wrong type for "log_level": expected a string, got a list`},
	{name: "string for bool", src: "server {\n  watch = \"yes\"\n}\n",
		pos: "2:11", want: `expected a bool (true or false), got a string`},
	{name: "fraction for int", src: "server {\n  workers = 1.5\n}\n",
		pos: "2:13", want: `1.5 is not a whole number`},
	{name: "bad duration", src: "server {\n  graceful_timeout = \"30 seconds\"\n}\n",
		pos: "2:22", want: `"30 seconds" is not a duration`},
	{name: "negative duration", src: "server {\n  idle_timeout = -5\n}\n",
		pos: "2:18", want: `negative`},
	{name: "bad size", src: "server {\n  max_body_bytes = \"10XB\"\n}\n",
		pos: "2:20", want: `"10XB" is not a size`},
	{name: "negative size", src: "server {\n  max_header_bytes = -1\n}\n",
		pos: "2:22", want: `size -1 is negative`},
	{name: "negative workers", src: "server {\n  workers = -1\n}\n",
		pos: "2:13", want: `workers must not be negative`},
	{name: "zero max_header_count", src: "server {\n  max_header_count = 0\n}\n",
		pos: "2:22", want: `max_header_count must be at least 1`},
	{name: "bad log_level", src: "server {\n  log_level = \"verbose\"\n}\n",
		pos: "2:15", want: `invalid log_level "verbose"`},
	{name: "bad log_level suggestion", src: "server {\n  log_level = \"warning\"\n}\n",
		pos: "2:15", want: `expected one of: debug, info, warn, error`},
	{name: "bad lifespan", src: "server {\n  lifespan = \"of\"\n}\n",
		pos: "2:14", want: `invalid lifespan "of"; did you mean "on"?`},
	{name: "duplicate server", src: "server {}\nserver {}\n",
		pos: "2:1", want: `duplicate server block`},
	{name: "listener without name", src: "listener {\n  address = \":0\"\n}\n",
		pos: "1:1", want: `a listener block needs a name`},
	{name: "unknown listener in site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  listeners = ["wbe"]
  route "/" {
    respond {}
  }
}
`, pos: "5:16", want: `unknown listener "wbe"; did you mean "web"?`},
	{name: "unknown chain in site", src: `listener "web" {
  address = "127.0.0.1:0"
}
middleware "standard" {
  request_id {}
}
site "app" {
  middleware = ["standart"]
  route "/" {
    respond {}
  }
}
`, pos: "8:17", want: `unknown middleware chain "standart"; did you mean "standard"?`},
	{name: "unknown chain in route", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    middleware = ["nope"]
    respond {}
  }
}
`, pos: "6:19", want: `unknown middleware chain "nope"`},
	{name: "duplicate listener", src: `listener "web" {
  address = "127.0.0.1:0"
}
listener "web" {
  address = "127.0.0.1:1"
}
`, pos: "4:10", want: `duplicate listener "web"; listener "web" is first defined at `},
	{name: "duplicate site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "a" {
  hosts = ["a"]
  route "/" {
    respond {}
  }
}
site "a" {
  hosts = ["b"]
  route "/" {
    respond {}
  }
}
`, pos: "10:6", want: `duplicate site "a"`},
	{name: "duplicate chain", src: "middleware \"m\" {\n  request_id {}\n}\nmiddleware \"m\" {\n  request_id {}\n}\n",
		pos: "4:12", want: `duplicate middleware "m"; middleware "m" is first defined at`},
	{name: "address without port", src: "listener \"web\" {\n  address = \"127.0.0.1\"\n}\n",
		pos: "2:13", want: `invalid address "127.0.0.1": missing port in address`},
	{name: "port out of range", src: "listener \"web\" {\n  address = \"127.0.0.1:70000\"\n}\n",
		pos: "2:13", want: `port "70000" is not a number from 0 to 65535`},
	{name: "bad host", src: "listener \"web\" {\n  address = \"bad host!:80\"\n}\n",
		pos: "2:13", want: `"bad host!" is not an IP address or a host name`},
	{name: "unix socket directory missing", src: "listener \"web\" {\n  address = \"unix:/nonexistent-pagi-dir/pagi.sock\"\n}\n",
		pos: "2:13", want: `socket directory /nonexistent-pagi-dir: no such file or directory`},
	{name: "unix without path", src: "listener \"web\" {\n  address = \"unix:\"\n}\n",
		pos: "2:13", want: `missing socket path`},
	{name: "mode on tcp", src: "listener \"web\" {\n  address = \"127.0.0.1:0\"\n  mode    = \"0660\"\n}\n",
		pos: "3:13", want: `mode applies only to unix sockets`},
	{name: "bad mode", src: "listener \"web\" {\n  address = \"unix:pagi.sock\"\n  mode    = \"0999\"\n}\n",
		pos: "3:13", want: `"0999" is not an octal file mode`},
	{name: "mode as number", src: "listener \"web\" {\n  address = \"unix:pagi.sock\"\n  mode    = 660\n}\n",
		pos: "3:13", want: `expected an octal file mode string like "0660", got a number`},
	{name: "same address twice", src: "listener \"a\" {\n  address = \"127.0.0.1:8080\"\n}\nlistener \"b\" {\n  address = \"127.0.0.1:8080\"\n}\n",
		pos: "5:13", want: `listener "b" has the same address as listener "a"`},
	{name: "missing address", src: "listener \"web\" {\n  http2 = true\n}\n",
		pos: "1:1", want: `missing required attribute "address" in the listener block`},
	{name: "tls cert missing", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "missing.pem"
    key  = "key.pem"
  }
}
`, pos: "4:12", want: `no such file or directory`},
	{name: "tls cert not parseable", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "garbage.pem"
    key  = "key.pem"
  }
}
`, pos: "4:12", want: `no PEM certificate found`},
	{name: "tls key mismatch", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "cert.pem"
    key  = "other-key.pem"
  }
}
`, pos: "5:12", want: `private key does not match public key`},
	{name: "tls client_ca without certificates", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert      = "cert.pem"
    key       = "key.pem"
    client_ca = "noca.pem"
  }
}
`, pos: "6:17", want: `no certificate in client CA file`},
	{name: "tls bad min_version", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert        = "cert.pem"
    key         = "key.pem"
    min_version = "1.1"
  }
}
`, pos: "6:19", want: `invalid min_version "1.1"; expected "1.2" or "1.3"`},
	{name: "tls without key", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "cert.pem"
  }
}
`, pos: "3:3", want: `missing required attribute "key" in the tls block`},
	{name: "two tls blocks", setup: tlsFiles, src: `listener "web" {
  address = "127.0.0.1:0"
  tls {
    cert = "cert.pem"
    key  = "key.pem"
  }
  tls {
    cert = "cert.pem"
    key  = "key.pem"
  }
}
`, pos: "7:3", want: `only one tls block is allowed here`},
	{name: "invalid route pattern", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "GET /{id" {
    respond {}
  }
}
`, pos: "5:9", want: `invalid route pattern "GET /{id": at offset 5: bad wildcard segment`},
	{name: "route pattern without slash", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "index" {
    respond {}
  }
}
`, pos: "5:9", want: `invalid route pattern "index"`},
	{name: "conflict across sites", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "a" {
  route "GET /x" {
    respond {}
  }
}
site "b" {
  route "GET /x" {
    respond {}
  }
}
`, pos: "10:9", want: `route "GET /x" conflicts with route "GET /x" of site "a" at `},
	{name: "conflict within a site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "a" {
  route "/{a}/x" {
    respond {}
  }
  route "/x/{b}" {
    respond {}
  }
}
`, pos: "8:9", want: `route "/x/{b}" conflicts with route "/{a}/x" of site "a"`},
	{name: "conflict method and path", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "a" {
  route "GET /" {
    respond {}
  }
  route "/static/" {
    respond {}
  }
}
`, pos: "8:9", want: `/static/ matches more methods than GET /, but has a more specific path pattern`},
	{name: "route without handler", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    request_id {}
  }
}
`, pos: "5:3", want: `route "/" has no handler`},
	{name: "route with two handlers", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond {}
    testrespond {}
  }
}
`, pos: "7:5", want: `route "/" has more than one handler; "testrespond" here, and "respond" at `},
	{name: "handler in a chain", src: "middleware \"m\" {\n  request_id {}\n  respond {}\n}\n",
		pos: "3:3", want: `"respond" is a handler, not a middleware`},
	{name: "unknown middleware in a chain", src: "middleware \"m\" {\n  acess_log {}\n}\n",
		pos: "2:3", want: `unknown middleware "acess_log"; did you mean "access_log"?`},
	{name: "unknown handler in a route", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    statik {
      root = "."
    }
  }
}
`, pos: "6:5", want: `unknown handler "statik"; did you mean "static"?`},
	{name: "handler directly in a site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  respond {}
}
`, pos: "5:3", want: `handler "respond" must be inside a route`},
	{name: "env unset", src: `listener "web" {
  address = env("PAGI_TEST_SURELY_UNSET")
}
`, pos: "2:18", want: `env(): environment variable "PAGI_TEST_SURELY_UNSET" is not set`},
	{name: "file missing", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond {
      body = file("missing.txt")
    }
  }
}
`, pos: "7:20", want: `missing.txt: no such file or directory`},
	{name: "unknown function", src: "server {\n  log_level = lowr(\"INFO\")\n}\n",
		pos: "2:15", want: `There is no function named "lowr"`},
	{name: "redis without url", src: "pubsub {\n  backend = \"redis\"\n}\n",
		pos: "1:1", want: `the redis backend needs a url`},
	{name: "bad redis url", src: "pubsub {\n  backend = \"redis\"\n  url     = \"http://localhost:6379\"\n}\n",
		pos: "3:13", want: `invalid redis url: unsupported scheme "http"`},
	{name: "bad redis db", src: "pubsub {\n  backend = \"redis\"\n  url     = \"redis://localhost:6379/x\"\n}\n",
		pos: "3:13", want: `database "x" is not a number`},
	{name: "unknown pubsub backend", src: "pubsub {\n  backend = \"kafka\"\n}\n",
		pos: "2:13", want: `unknown pubsub backend "kafka"`},
	{name: "pubsub pool_size zero", src: "pubsub {\n  backend   = \"redis\"\n  url       = \"redis://localhost\"\n  pool_size = 0\n}\n",
		pos: "4:15", want: `pool_size must be at least 1`},
	{name: "proxy_protocol bad cidr", src: "listener \"web\" {\n  address = \"127.0.0.1:0\"\n  proxy_protocol {\n    trusted = [\"10.0.0.0/99\"]\n  }\n}\n",
		pos: "4:15", want: `invalid proxy_protocol trusted address`},
	{name: "unknown pubsub option", src: "pubsub {\n  poolsize = 3\n}\n",
		pos: "2:3", want: `unknown pubsub option "poolsize"; did you mean "pool_size"?`},
	{name: "pubsub negative replay", src: "pubsub {\n  replay = -1\n}\n",
		pos: "2:12", want: `replay must be at least 0`},
	{name: "pubsub bad timeout", src: "pubsub {\n  dial_timeout = \"soon\"\n}\n",
		pos: "2:18", want: `"soon" is not a duration`},
	{name: "site without listeners among two", src: `listener "a" {
  address = "127.0.0.1:0"
}
listener "b" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond {}
  }
}
`, pos: "7:1", want: `site "app" must set listeners: the config has 2 listeners`},
	{name: "site without any listener", src: "site \"app\" {\n  route \"/\" {\n    respond {}\n  }\n}\n",
		pos: "1:1", want: `site "app" has no listener to serve on`},
	{name: "route host in a site with hosts", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  hosts = ["example.com"]
  route "other.com/x" {
    respond {}
  }
}
`, pos: "6:9", want: `route "other.com/x" has a host, but site "app" sets hosts`},
	{name: "wildcard host", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  hosts = ["example.com", "*.example.com"]
  route "/" {
    respond {}
  }
}
`, pos: "5:27", want: `wildcard hosts are not supported`},
	{name: "module missing required attribute", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    static {}
  }
}
`, pos: "6:5", want: `missing required attribute "root" in the static block`},
	{name: "module validate error at its attribute", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    static {
      root = "no-such-dir"
    }
  }
}
`, pos: "7:14", want: `is not a directory`},
	{name: "module validate sees route params", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/chat/{room}" {
    websocket { channel = "chat.{rooom}" }
  }
}
`, pos: "6:27", want: `channel refers to {rooom}`},
	{name: "module unknown attribute", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond { bdy = "x" }
  }
}
`, pos: "6:15", want: `unknown attribute "bdy" in the respond block; did you mean "body"?`},
	{name: "module wrong type", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond { status = "ok" }
  }
}
`, pos: "6:24", want: `wrong type for "status": expected a whole number, got a string`},
	{name: "module label not allowed", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond "x" {}
  }
}
`, pos: "6:13", want: `a respond block takes no label`},
	{name: "module validate panics", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    testpanics {}
  }
}
`, pos: "6:5", want: `internal error: validating testpanics panicked: boom`},
	{name: "nested route", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    respond {}
    route "/x" {}
  }
}
`, pos: "7:5", want: `routes do not nest`},
	{name: "unknown site attribute", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  host = ["a"]
  route "/" {
    respond {}
  }
}
`, pos: "5:3", want: `unknown attribute "host" in site "app"; did you mean "hosts"?`},
	{name: "middleware block type in site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  rout "/" {}
}
`, pos: "5:3", want: `unknown block type "rout"; did you mean "route"?`},
	{name: "nested block attribute type", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  testmw {
    rule "a" {
      path  = "/"
      allow = "yes"
    }
  }
  route "/" {
    respond {}
  }
}
`, pos: "8:15", want: `wrong type for "allow": expected a bool (true or false), got a string`},
	{name: "list element type", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  testmw {
    tags = ["a", ["b"]]
  }
  route "/" {
    respond {}
  }
}
`, pos: "6:18", want: `wrong type for "tags"[1]: expected a string, got a list`},
	{name: "uint8 out of range", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  testmw { small = 300 }
  route "/" {
    respond {}
  }
}
`, pos: "5:20", want: `300 is out of range`},

	// include
	{name: "include inside a site", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  include "routes.hcl"
  route "/" {
    respond {}
  }
}
`, pos: "5:3", want: `include is allowed only at the top level of a file`},
	{name: "include block inside a route", src: `listener "web" {
  address = "127.0.0.1:0"
}
site "app" {
  route "/" {
    include "more.hcl" {}
    respond {}
  }
}
`, pos: "6:5", want: `include is allowed only at the top level of a file`},
	{name: "include with **", src: "include \"sites/**/*.hcl\"\n",
		pos: "1:9", want: `include "sites/**/*.hcl": ** is not supported`},
	{name: "include of a missing file", src: "include \"common/limits.hcl\"\n",
		pos: "1:9", want: `include "common/limits.hcl": cannot read $DIR/common/limits.hcl: no such file or directory`},
	{name: "include of a directory", setup: withFiles("common/x.hcl", ""), src: "include \"common\"\n",
		pos: "1:9", want: `not a regular file`},
	{name: "include with a bad pattern", src: "include \"sites/[a-.hcl\"\n",
		pos: "1:9", want: `invalid include pattern "sites/[a-.hcl": syntax error in pattern`},
	{name: "include without a path", src: "include\n",
		pos: "1:1", want: `an include needs a path`},
	{name: "include with an empty path", src: "include \"\"\n",
		pos: "1:9", want: `the path of an include must not be empty`},
	{name: "include with an interpolation", src: "include \"${env(\"HOME\")}/x.hcl\"\n",
		pos: "1:9", want: `the path of an include must be a plain string`},
	{name: "include block with a body", src: "include \"x.hcl\" {\n  path = \"y\"\n}\n",
		pos: "1:17", want: `an include takes no body`},
	{name: "include of itself", setup: withFiles("site.hcl", "include \"*.hcl\"\n"), src: "include \"*.hcl\"\n",
		pos: "1:1", want: `include cycle: $DIR/site.hcl → $DIR/site.hcl; the pattern "*.hcl" matches the file it is written in`},
	{name: "include cycle of 2", setup: withFiles("a.hcl", "# a\ninclude \"site.hcl\"\n"), src: "include \"a.hcl\"\n",
		file: "a.hcl", pos: "2:1", want: `include cycle: $DIR/site.hcl → $DIR/a.hcl → $DIR/site.hcl`},
	{name: "include cycle of 3", setup: withFiles(
		"sites/a.hcl", "include \"b.hcl\"\n",
		"sites/b.hcl", "include \"../site.hcl\" # back\n",
	), src: "include \"sites/a.hcl\"\n",
		file: "sites/b.hcl", pos: "1:1", want: `include cycle: $DIR/site.hcl → $DIR/sites/a.hcl → $DIR/sites/b.hcl → $DIR/site.hcl`},
	{name: "include cycle below the main file", setup: withFiles(
		"a.hcl", "include \"b.hcl\"\n",
		"b.hcl", "include \"a.hcl\"\n",
	), src: "include \"a.hcl\"\n",
		file: "b.hcl", pos: "1:1", want: `include cycle: $DIR/a.hcl → $DIR/b.hcl → $DIR/a.hcl; a file must not include itself, directly or through other files
included from $DIR/a.hcl:1:1
included from $DIR/site.hcl:1:1`},
	{name: "duplicate site across files", setup: withFiles("sites/b.hcl", `site "a" {
  route "/b" {
    respond {}
  }
}
`), src: `listener "web" {
  address = "127.0.0.1:0"
}
site "a" {
  route "/a" {
    respond {}
  }
}
include "sites/*.hcl"
`, file: "sites/b.hcl", pos: "1:6", want: `duplicate site "a"; site "a" is first defined at $DIR/site.hcl:4:1`},
	{name: "duplicate listener across files", setup: withFiles("listeners.hcl", "listener \"web\" {\n  address = \"127.0.0.1:0\"\n}\n"),
		src: "include \"listeners.hcl\"\nlistener \"web\" {\n  address = \"127.0.0.1:0\"\n}\n",
		pos: "2:10", want: `duplicate listener "web"; listener "web" is first defined at $DIR/listeners.hcl:1:1`},
	{name: "second server block in an included file", setup: withFiles("more.hcl", "server {\n  workers = 2\n}\n"),
		src:  "server {}\ninclude \"more.hcl\"\n",
		file: "more.hcl", pos: "1:1", want: `duplicate server block; a config, included files and all, has at most one server block; the first is at $DIR/site.hcl:1:1`},
	{name: "second pubsub block in an included file", setup: withFiles("more.hcl", "pubsub {}\n"),
		src:  "pubsub {}\ninclude \"more.hcl\"\n",
		file: "more.hcl", pos: "1:1", want: `duplicate pubsub block`},
	{name: "error in an included file", setup: withFiles(
		"sites/a.hcl", "# limits\ninclude \"../common/limits.hcl\"\n",
		"common/limits.hcl", "server {\n  workers = -1\n}\n",
	), src: "include \"sites/*.hcl\"\n",
		file: "common/limits.hcl", pos: "2:13", want: `workers must not be negative; got -1
included from $DIR/sites/a.hcl:2:1
included from $DIR/site.hcl:1:1`},
	{name: "syntax error in an included file", setup: withFiles("a.hcl", "listener \"web\" {\n  address = \n}\n"),
		src:  "include \"a.hcl\"\n",
		file: "a.hcl", pos: "2:13", want: `Invalid expression`},
	{name: "include nested too deeply", setup: includeChain(maxIncludeDepth + 5), src: "include \"f1.hcl\"\n",
		file: fmt.Sprintf("f%d.hcl", maxIncludeDepth), pos: "1:1", want: `includes nest too deeply: at most 32 levels`},
	{name: "too many included files", setup: manyFiles(maxIncludedFiles + 1), src: "include \"many/*.hcl\"\n",
		pos: "1:1", want: `too many included files: at most 1000`},
}

// withFiles returns a setup that writes files, given as pairs of a path
// (slash-separated, relative to the test directory) and a content.
func withFiles(pairs ...string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		for i := 0; i+1 < len(pairs); i += 2 {
			p := filepath.Join(dir, filepath.FromSlash(pairs[i]))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(pairs[i+1]), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// includeChain returns a setup that writes f1.hcl to fN.hcl, each
// including the next.
func includeChain(n int) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		for i := 1; i <= n; i++ {
			writeFile(t, dir, fmt.Sprintf("f%d.hcl", i), fmt.Sprintf("include \"f%d.hcl\"\n", i+1))
		}
	}
}

// manyFiles returns a setup that writes n empty files many/NNNN.hcl.
func manyFiles(n int) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		var pairs []string
		for i := range n {
			pairs = append(pairs, fmt.Sprintf("many/%04d.hcl", i), "")
		}
		withFiles(pairs...)(t, dir)
	}
}

func TestBrokenConfigs(t *testing.T) {
	if len(brokenCases) < 35 {
		t.Fatalf("only %d broken cases", len(brokenCases))
	}
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			r := parseIn(dir, tc.src)
			file := filepath.FromSlash(tc.file)
			if file == "" {
				file = "site.hcl"
			}
			want := strings.ReplaceAll(tc.want, "$DIR/", dir+string(filepath.Separator))
			if r.Config != nil {
				t.Fatalf("config should be invalid; diagnostics:\n%s", diagText(r))
			}
			for _, d := range r.Diags {
				if d.Subject == nil || d.Severity != hcl.DiagError {
					continue
				}
				pos := fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
				rel, _ := filepath.Rel(dir, d.Subject.Filename)
				if rel == file && pos == tc.pos && strings.Contains(summaryAndDetail(d), want) {
					return
				}
			}
			t.Errorf("want an error at %s:%s containing %q; got:\n%s", file, tc.pos, want, diagText(r))
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	src := `server {
  workers = -2
}
listener "web" {
  address = "127.0.0.1"
}
site "app" {
  route "/" {
    statik {}
  }
}
`
	r := Parse("three.hcl", []byte(src))
	var got []string
	for _, d := range r.Diags {
		if d.Severity == hcl.DiagError {
			got = append(got, fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column))
		}
	}
	want := []string{"2:13", "5:13", "9:5"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("errors at %v, want %v (in source order):\n%s", got, want, diagText(r))
	}
}

func TestLoadMissingFile(t *testing.T) {
	r := Load(filepath.Join(t.TempDir(), "nope.hcl"))
	if r.Config != nil || len(r.Diags) != 1 || !strings.Contains(r.Diags[0].Summary, "no such file") {
		t.Fatalf("got %v", r.Diags)
	}
	if err := r.WriteText(&strings.Builder{}, false); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDirectory(t *testing.T) {
	r := Load(t.TempDir())
	if r.Config != nil || !strings.Contains(diagText(r), "not a regular file") {
		t.Fatalf("got %s", diagText(r))
	}
}

func TestLoadNamesFileAsGiven(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "site.hcl", "server {\n  workers = \"x\"\n}\n")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	defer os.Chdir(wd)
	r := Load("site.hcl")
	if got := diagText(r); !strings.HasPrefix(got, "site.hcl:2:13: error:") {
		t.Fatalf("got %q", got)
	}
}
