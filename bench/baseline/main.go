// Command baseline is the raw net/http server pagi is measured against: the
// same jobs as the benchmark config (a hello-world response and static
// files), written directly against the standard library, with nothing of
// pagi's. bench/run.sh starts it beside pagi and loads both in one run.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	hello := flag.String("hello", "127.0.0.1:18180", "address of the hello-world server")
	static := flag.String("static", "127.0.0.1:18181", "address of the http.FileServer server")
	root := flag.String("root", ".", "directory served by http.FileServer")
	flag.Parse()
	body := []byte("Hello, World!")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	go func() { log.Fatal(http.ListenAndServe(*static, http.FileServer(http.Dir(*root)))) }()
	log.Fatal(http.ListenAndServe(*hello, mux))
}
