package engine

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/pagihq/pagi/config"
)

func TestProxyProtocol(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].ProxyProtocol = &config.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	ts := startConfig(t, cfg)
	addr := ts.Addr("web").String()

	send := func(header []byte) (*http.Response, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(append(header, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	if resp, err := send([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("v1: %v %v", resp, err)
	}
	if s := sr.get(); s.Client.Host != "203.0.113.7" || s.Client.Port != 40000 || s.Server.Port != 443 {
		t.Errorf("v1 scope client %+v server %+v", s.Client, s.Server)
	}

	v2 := append([]byte{}, proxyV2Signature...)
	v2 = append(v2, 0x21, 0x21, 0, 36)
	v2 = append(v2, netip.MustParseAddr("2001:db8::5").AsSlice()...)
	v2 = append(v2, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	v2 = binary.BigEndian.AppendUint16(v2, 5555)
	v2 = binary.BigEndian.AppendUint16(v2, 8443)
	if resp, err := send(v2); err != nil || resp.StatusCode != 200 {
		t.Fatalf("v2: %v %v", resp, err)
	}
	if s := sr.get(); s.Client.Host != "2001:db8::5" || s.Client.Port != 5555 {
		t.Errorf("v2 scope client %+v", s.Client)
	}

	if _, err := send([]byte("PROXY TCP4 nonsense\r\n")); err == nil {
		t.Error("a malformed PROXY header got a response")
	}
	if _, err := send(nil); err == nil {
		t.Error("a trusted peer without a PROXY header got a response")
	}
}

func TestProxyProtocolIgnoredForUntrustedPeers(t *testing.T) {
	var sr scopeRecorder
	cfg := testConfig(sr.app, "/")
	cfg.Listeners[0].ProxyProtocol = &config.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	ts := startConfig(t, cfg)
	resp, _ := rawRequest(t, ts.Addr("web").String(), "PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Errorf("spoofed PROXY header from an untrusted peer: status %d, want 400", resp.StatusCode)
	}
	resp, _ = rawRequest(t, ts.Addr("web").String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || sr.get().Client.Host != "127.0.0.1" {
		t.Errorf("plain request from an untrusted peer: %d %+v", resp.StatusCode, sr.get().Client)
	}
}
