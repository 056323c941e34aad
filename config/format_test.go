package config

import (
	"bytes"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestFormat(t *testing.T) {
	src := `server {
log_level="info" # the level
  workers = 0   // count
    graceful_timeout   =   "30s"
}

# a listener
listener "web" {
address = "127.0.0.1:8080"
  tls {
  cert = "a"
      key = "b"
        }
}
site   "app"   {
  hosts = [ "a" ,"b" ]
  route "GET /" {
    respond {
      status = -1 + 2
      body = format( "%s!" , "${ upper("hi") }" )
      headers = {a="b"}
      text = <<EOT
  kept   as
written ${ x }
EOT
    }
  }
  request_id {}
}
`
	want := `server {
  log_level        = "info" # the level
  workers          = 0      // count
  graceful_timeout = "30s"
}

# a listener
listener "web" {
  address = "127.0.0.1:8080"
  tls {
    cert = "a"
    key  = "b"
  }
}
site "app" {
  hosts = ["a", "b"]
  route "GET /" {
    respond {
      status  = -1 + 2
      body    = format("%s!", "${upper("hi")}")
      headers = { a = "b" }
      text    = <<EOT
  kept   as
written ${x}
EOT
    }
  }
  request_id {}
}
`
	got := string(Format([]byte(src)))
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if again := string(Format([]byte(got))); again != got {
		t.Errorf("not idempotent:\n%s", again)
	}
	if !sameTokens(t, []byte(src), []byte(got)) {
		t.Error("formatting changed the tokens")
	}
	if got := string(Format([]byte(designExample))); got != string(Format([]byte(got))) {
		t.Error("design example: not idempotent")
	}
}

func TestFormatInvalidInput(t *testing.T) {
	for _, src := range []string{"a = \"\x00\x01\"", "}}}\n{{{", "x = <<EOT\nunterminated", "", "\n\n", "# only\n"} {
		out := Format([]byte(src))
		if again := Format(out); !bytes.Equal(again, out) {
			t.Errorf("%q: not idempotent: %q then %q", src, out, again)
		}
	}
}

// sameTokens reports whether a and b lex to the same tokens, ignoring
// newlines' exact bytes and comments' trailing newlines.
func sameTokens(t *testing.T, a, b []byte) bool {
	t.Helper()
	ta, _ := hclsyntax.LexConfig(a, "", hcl.InitialPos)
	tb, _ := hclsyntax.LexConfig(b, "", hcl.InitialPos)
	if len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		if ta[i].Type != tb[i].Type || (ta[i].Type != hclsyntax.TokenNewline && !bytes.Equal(bytes.TrimRight(ta[i].Bytes, " \r\n"), bytes.TrimRight(tb[i].Bytes, " \r\n"))) {
			return false
		}
	}
	return true
}
