package config_test

import (
	"fmt"
	"os"

	"github.com/pagihq/pagi/config"
)

func ExampleParse() {
	src := `listener "web" {
  address = "127.0.0.1:8080"
}

site "app" {
  route "GET /{$}" {
    respond { body = "Hello from pagi" }
  }
  route "/assets/" {
    respond { body = "assets" }
  }
}
`
	r := config.Parse("site.hcl", []byte(src))
	if r.Config == nil {
		_ = r.WriteText(os.Stderr, false)
		return
	}
	for _, s := range r.Config.Sites {
		for _, rt := range s.Routes {
			fmt.Printf("%s on %v: %q method=%q path=%q mount=%v handler=%s\n",
				s.Name, s.Listeners, rt.Pattern, rt.Method, rt.Path, rt.Mount, rt.Handler.Type)
		}
	}
	// Output:
	// app on [web]: "GET /{$}" method="GET" path="/{$}" mount=false handler=respond
	// app on [web]: "/assets/" method="" path="/assets/" mount=true handler=respond
}

func ExampleResult_WriteText() {
	src := `server {
  workers = "two"
}
`
	r := config.Parse("site.hcl", []byte(src))
	_ = r.WriteText(os.Stdout, false)
	// Output:
	// site.hcl:2:13: error: wrong type for "workers": expected a whole number, got a string
	//     2 |   workers = "two"
	//       |             ^^^^^
}
