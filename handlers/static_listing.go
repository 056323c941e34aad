package handlers

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pagihq/pagi"
)

// staticListingHead is the start of every directory listing page.
const staticListingHead = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of %s</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}th,td{padding:.15em 1em;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}</style>
</head><body><h1>Index of %s</h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>
`

// serveListing sends an HTML listing of dir (opened as name): entries
// sorted by name, dotfiles left out when hidden, symbolic links shown with
// their target's details and left out when they do not resolve inside the
// root, special files left out. Names are HTML-escaped for display and
// percent-escaped in links.
func (a *staticApp) serveListing(ctx context.Context, s *pagi.Scope, send pagi.Send, name string, dir *os.File) error {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		if rerr := staticFail(ctx, s, send, http.StatusInternalServerError); rerr != nil {
			return rerr
		}
		return fmt.Errorf("static: listing a directory: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	title := html.EscapeString(strings.TrimRight(s.RootPath, "/") + s.Path)
	var b strings.Builder
	b.Grow(len(staticListingHead) + 2*len(title) + 128*len(entries) + 64)
	fmt.Fprintf(&b, staticListingHead, title, title)
	if name != "." {
		b.WriteString("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n")
	}
	for _, e := range entries {
		n := e.Name()
		if (a.hideDot && strings.HasPrefix(n, ".")) || !utf8.ValidString(n) || strings.ContainsAny(n, "\\\x00") {
			continue // not reachable by a request either
		}
		rel := n
		if name != "." {
			rel = name + "/" + n
		}
		info, err := a.root.Stat(rel)
		if err != nil {
			continue // dangling, or a link leading out of the root
		}
		isDir := info.IsDir()
		if !isDir && !info.Mode().IsRegular() {
			continue
		}
		slash := ""
		if isDir {
			slash = "/"
		}
		b.WriteString(`<tr><td><a href="./`)
		b.WriteString(html.EscapeString(url.PathEscape(n)))
		b.WriteString(slash)
		b.WriteString(`">`)
		b.WriteString(html.EscapeString(n))
		b.WriteString(slash)
		b.WriteString(`</a></td><td class="n">`)
		if !isDir {
			b.WriteString(strconv.FormatInt(info.Size(), 10))
		}
		b.WriteString(`</td><td>`)
		b.WriteString(info.ModTime().UTC().Format("2006-01-02 15:04:05 UTC"))
		b.WriteString("</td></tr>\n")
	}
	b.WriteString("</tbody></table></body></html>\n")

	headers := pagi.Headers{
		{Name: stHContentType, Value: stVTextHTML},
		{Name: stHNoSniff, Value: "nosniff"},
	}
	if a.cacheControl != "" {
		headers = append(headers, pagi.Header{Name: stHCacheControl, Value: a.cacheControl})
	}
	return pagi.Respond(ctx, s, send, http.StatusOK, headers, []byte(b.String()))
}

// staticEscapePath percent-escapes a slash-separated path for a Location
// header, segment by segment.
func staticEscapePath(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}
