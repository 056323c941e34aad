package handlers

import (
	"mime"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// staticTypes maps common web extensions to their Content-Type, so the
// answer does not depend on the host's mime.types. Text types carry
// "; charset=utf-8".
var staticTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".cjs":         "text/javascript; charset=utf-8",
	".txt":         "text/plain; charset=utf-8",
	".text":        "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".markdown":    "text/markdown; charset=utf-8",
	".csv":         "text/csv; charset=utf-8",
	".tsv":         "text/tab-separated-values; charset=utf-8",
	".xml":         "text/xml; charset=utf-8",
	".ics":         "text/calendar; charset=utf-8",
	".vtt":         "text/vtt; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".jsonld":      "application/ld+json",
	".webmanifest": "application/manifest+json",
	".rss":         "application/rss+xml",
	".atom":        "application/atom+xml",
	".xhtml":       "application/xhtml+xml",
	".yaml":        "application/yaml",
	".yml":         "application/yaml",
	".toml":        "application/toml",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".zip":         "application/zip",
	".gz":          "application/gzip",
	".tgz":         "application/gzip",
	".br":          "application/x-brotli",
	".zst":         "application/zstd",
	".tar":         "application/x-tar",
	".7z":          "application/x-7z-compressed",
	".xz":          "application/x-xz",
	".bz2":         "application/x-bzip2",
	".bin":         "application/octet-stream",
	".exe":         "application/octet-stream",
	".dmg":         "application/octet-stream",
	".iso":         "application/octet-stream",
	".deb":         "application/vnd.debian.binary-package",
	".rpm":         "application/x-rpm",
	".apk":         "application/vnd.android.package-archive",
	".epub":        "application/epub+zip",
	".png":         "image/png",
	".apng":        "image/apng",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".jfif":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".jxl":         "image/jxl",
	".heic":        "image/heic",
	".svg":         "image/svg+xml",
	".svgz":        "image/svg+xml",
	".ico":         "image/vnd.microsoft.icon",
	".bmp":         "image/bmp",
	".tif":         "image/tiff",
	".tiff":        "image/tiff",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".eot":         "application/vnd.ms-fontobject",
	".mp3":         "audio/mpeg",
	".m4a":         "audio/mp4",
	".aac":         "audio/aac",
	".oga":         "audio/ogg",
	".ogg":         "audio/ogg",
	".opus":        "audio/ogg",
	".wav":         "audio/wav",
	".flac":        "audio/flac",
	".weba":        "audio/webm",
	".mid":         "audio/midi",
	".midi":        "audio/midi",
	".mp4":         "video/mp4",
	".m4v":         "video/mp4",
	".webm":        "video/webm",
	".ogv":         "video/ogg",
	".mov":         "video/quicktime",
	".avi":         "video/x-msvideo",
	".mkv":         "video/x-matroska",
	".mpeg":        "video/mpeg",
	".mpg":         "video/mpeg",
	".m3u8":        "application/vnd.apple.mpegurl",
	".mpd":         "application/dash+xml",
}

// staticTypeCacheMax bounds the cache of types found with mime; the cache
// only ever holds extensions of files that exist, but stays bounded anyway.
const staticTypeCacheMax = 1024

// staticTypeCache resolves Content-Types by extension: the built-in table
// first, then mime.TypeByExtension (remembered per extension).
type staticTypeCache struct {
	m sync.Map // extension -> type ("" means: sniff the content)
	n atomic.Int32
}

// lookup returns the Content-Type for the file name, or "" when the
// extension is unknown and the content must be sniffed.
func (c *staticTypeCache) lookup(name string) string {
	ext := path.Ext(name)
	if ext == "" {
		return ""
	}
	if t, ok := staticTypes[ext]; ok {
		return t
	}
	if v, ok := c.m.Load(ext); ok {
		return v.(string)
	}
	t, ok := staticTypes[strings.ToLower(ext)]
	if !ok {
		t = staticTypeByExtension(ext)
	}
	if c.n.Load() < staticTypeCacheMax {
		if _, loaded := c.m.LoadOrStore(ext, t); !loaded {
			c.n.Add(1)
		}
	}
	return t
}

// staticTypeByExtension asks the mime package, adding a UTF-8 charset to
// text types that carry none.
func staticTypeByExtension(ext string) string {
	t := mime.TypeByExtension(ext)
	if strings.HasPrefix(t, "text/") && !strings.Contains(t, "charset=") {
		t += "; charset=utf-8"
	}
	return t
}
