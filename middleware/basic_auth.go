package middleware

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/pagihq/pagi"
	"github.com/pagihq/pagi/config"
	"golang.org/x/crypto/bcrypt"
)

func init() {
	config.Register(config.BlockType{
		Name: "basic_auth", Kind: config.KindMiddleware,
		Doc: "requires HTTP Basic authentication against bcrypt password hashes",
		New: func() any { return &BasicAuth{Realm: "Restricted"} },
	})
}

// BasicAuth is the basic_auth middleware: every request (http, SSE and
// WebSocket handshakes alike) must carry the credentials of a listed user.
//
//	basic_auth {
//	  realm = "Restricted"
//	  users = {
//	    alice = "$2y$10$..."   # bcrypt hash: htpasswd -nbB alice 'password'
//	  }
//	}
//
// Other requests get 401 with WWW-Authenticate: Basic realm="...",
// charset="UTF-8". An unknown user costs a bcrypt comparison with a dummy
// hash, so timing does not tell which users exist. A successful check is
// remembered for a minute (keyed by an HMAC of user and password with a key
// made at build, at most basicAuthCacheSize entries), so a browser's many
// requests do not each pay for bcrypt; changing the config forgets it. At
// most GOMAXPROCS bcrypt comparisons run at once; other requests wait for a
// slot. Passwords longer than 72 bytes (bcrypt's limit) are refused. The
// user name is stored in scope.Values["pagi.auth.user"].
type BasicAuth struct {
	// Realm is the protection space named in WWW-Authenticate.
	Realm string `hcl:"realm,optional"`
	// Users maps user names to bcrypt hashes of their passwords.
	Users map[string]string `hcl:"users"`
}

var (
	_ config.Validator        = (*BasicAuth)(nil)
	_ config.MiddlewareModule = (*BasicAuth)(nil)
)

const (
	// basicAuthCacheTTL is how long a successful check is remembered.
	basicAuthCacheTTL = time.Minute
	// basicAuthCacheSize bounds the remembered checks.
	basicAuthCacheSize = 1024
	// basicAuthMaxHeader bounds the Authorization value that is decoded:
	// a user name and a 72-byte password fit many times over.
	basicAuthMaxHeader = 4096
)

// Validate checks the realm, the user names and that every password is a
// bcrypt hash.
func (a *BasicAuth) Validate(ctx *config.ValidateContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	l := setaLoc{ctx: ctx}
	if a.Realm == "" || strings.ContainsAny(a.Realm, "\"\\") || pagi.ValidateHeader("x", a.Realm) != nil {
		diags = append(diags, ctx.Error("realm", "Invalid realm",
			`realm must be non-empty and hold no quote, backslash, CR, LF or NUL`))
	}
	if len(a.Users) == 0 {
		diags = append(diags, ctx.Error("users", "No users", `list users as name = "bcrypt hash"`))
	}
	for _, u := range setaSortedKeys(a.Users) {
		if u == "" || strings.ContainsAny(u, ":\r\n\x00") {
			diags = append(diags, setaError(l.item("users", u, false), "Invalid user name",
				fmt.Sprintf("user name %q must be non-empty and hold no colon (Basic auth splits at the first one)", u)))
		}
		if _, err := bcrypt.Cost([]byte(a.Users[u])); err != nil {
			diags = append(diags, setaError(l.item("users", u, true), "Password is not a bcrypt hash",
				fmt.Sprintf("the password of %q must be a bcrypt hash ($2a$, $2b$ or $2y$), not the password itself (%v); make one with: htpasswd -nbB %s 'password' (the part after the colon)", u, err, u)))
		}
	}
	return diags
}

// basicAuth is the built form of a basic_auth block.
type basicAuth struct {
	users     map[string][]byte
	dummy     []byte        // a hash of a random password, compared for unknown users
	cacheKey  []byte        // HMAC key of the cache
	slots     chan struct{} // bounds concurrent bcrypt comparisons
	mu        sync.Mutex
	cache     map[[32]byte]time.Time // HMAC(user:password) → expiry
	challenge pagi.Headers
	body      []byte
}

// BuildMiddleware decodes the hashes, makes the dummy hash (at the highest
// cost among the users, so an unknown user costs as much as a known one)
// and returns the middleware.
func (a *BasicAuth) BuildMiddleware(*config.BuildContext) (pagi.Middleware, error) {
	b := &basicAuth{
		users: make(map[string][]byte, len(a.Users)),
		slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		cache: map[[32]byte]time.Time{},
		challenge: pagi.Headers{
			{Name: "www-authenticate", Value: `Basic realm="` + a.Realm + `", charset="UTF-8"`},
			setaTextPlain,
		},
		body: []byte("401 Unauthorized\n"),
	}
	cost := bcrypt.MinCost
	for u, h := range a.Users {
		c, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return nil, fmt.Errorf("basic_auth: user %q: %w", u, err)
		}
		cost = max(cost, c)
		b.users[u] = []byte(h)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dummy, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		return nil, fmt.Errorf("basic_auth: dummy hash: %w", err)
	}
	b.dummy = dummy
	b.cacheKey = make([]byte, 32)
	_, _ = rand.Read(b.cacheKey)
	return func(next pagi.App) pagi.App {
		return func(ctx context.Context, s *pagi.Scope, receive pagi.Receive, send pagi.Send) error {
			if s.Type == pagi.ScopeLifespan {
				return next(ctx, s, receive, send)
			}
			user, ok, err := b.check(ctx, s.Header("authorization"))
			if err != nil {
				return err // the request ended while waiting for a bcrypt slot
			}
			if !ok {
				return pagi.Respond(ctx, s, send, 401, b.challenge, b.body)
			}
			s2 := s.Clone()
			s2.SetValue("pagi.auth.user", user)
			return next(ctx, s2, receive, send)
		}
	}, nil
}

// basicAuthParse splits an Authorization value into user and password; ok
// is false for anything but well-formed Basic credentials.
func basicAuthParse(v string) (user, password string, ok bool) {
	const prefix = "basic "
	v = strings.TrimSpace(v)
	if len(v) <= len(prefix) || len(v) > basicAuthMaxHeader || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, password, true
}

// check verifies an Authorization value. It returns the user and true when
// the credentials are good; an error only when ctx ended while waiting.
func (b *basicAuth) check(ctx context.Context, authz string) (string, bool, error) {
	user, password, ok := basicAuthParse(authz)
	if !ok {
		return "", false, nil
	}
	key := b.key(user, password)
	now := time.Now()
	b.mu.Lock()
	exp, hit := b.cache[key]
	b.mu.Unlock()
	if hit && now.Before(exp) {
		return user, true, nil
	}
	hash, known := b.users[user]
	if !known {
		hash = b.dummy
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	var err error
	if len(password) > 72 {
		// bcrypt ignores bytes after the 72nd; refuse rather than accept a
		// password that merely starts like the right one. Compare anyway
		// so that the answer takes as long.
		_ = bcrypt.CompareHashAndPassword(hash, []byte(password[:72]))
		err = bcrypt.ErrPasswordTooLong
	} else {
		err = bcrypt.CompareHashAndPassword(hash, []byte(password))
	}
	<-b.slots
	if err != nil || !known {
		return "", false, nil
	}
	b.remember(key, now.Add(basicAuthCacheTTL))
	return user, true, nil
}

// key is the cache key of a user and password: an HMAC with a per-build
// random key, so the cache holds nothing that could be brute-forced
// offline.
func (b *basicAuth) key(user, password string) [32]byte {
	m := hmac.New(sha256.New, b.cacheKey)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// remember caches a successful check. When the cache is full, expired
// entries go first; if none has expired, the whole cache is dropped (the
// next requests pay for bcrypt again, but memory stays bounded).
func (b *basicAuth) remember(key [32]byte, exp time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.cache) >= basicAuthCacheSize {
		now := time.Now()
		for k, e := range b.cache {
			if !now.Before(e) {
				delete(b.cache, k)
			}
		}
		if len(b.cache) >= basicAuthCacheSize {
			clear(b.cache)
		}
	}
	b.cache[key] = exp
}
