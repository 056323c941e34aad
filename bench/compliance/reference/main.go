// Command reference is the plain net/http server that bench/compliance.sh
// runs h2spec against beside pagi: the same job (a short "hello" on /),
// written against the standard library only, with Go's defaults for
// HTTP/2 and TLS. Whatever h2spec reports for it is what net/http itself
// does; a case that fails on pagi but passes here is pagi's own doing.
//
//	reference -h2c 127.0.0.1:18402 -tls 127.0.0.1:18403 -cert cert.pem -key key.pem
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"net/http"
)

func main() {
	h2cAddr := flag.String("h2c", "127.0.0.1:18402", "cleartext listener: HTTP/1.1 and HTTP/2 with prior knowledge")
	tlsAddr := flag.String("tls", "127.0.0.1:18403", "TLS listener: h2 and http/1.1 by ALPN")
	cert := flag.String("cert", "cert.pem", "PEM certificate for the TLS listener")
	key := flag.String("key", "key.pem", "PEM private key for the TLS listener")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("hello"))
	})

	clear := new(http.Protocols)
	clear.SetHTTP1(true)
	clear.SetUnencryptedHTTP2(true)
	h2c := &http.Server{Addr: *h2cAddr, Handler: mux, Protocols: clear}

	secure := new(http.Protocols)
	secure.SetHTTP1(true)
	secure.SetHTTP2(true)
	tlsSrv := &http.Server{
		Addr:      *tlsAddr,
		Handler:   mux,
		Protocols: secure,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}

	errc := make(chan error, 2)
	go func() { errc <- h2c.ListenAndServe() }()
	go func() { errc <- tlsSrv.ListenAndServeTLS(*cert, *key) }()
	log.Fatal(<-errc)
}
