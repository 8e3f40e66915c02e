package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var files embed.FS

// csp lets the page load its own script, style and icon and open
// WebSockets (ws: and wss:, since 'self' covers them only in newer
// browsers), and nothing else: no inline script, no eval, no frames, no
// form posts. Message text is inserted as text, and this is the second
// line of defence should that ever slip.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// contentTypes is set explicitly rather than left to the mime package,
// whose answer for .js depends on the system's mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets maps URL paths to files, built once: the embedded files never
// change, so neither do their ETags.
var assets = sync.OnceValue(func() map[string]asset {
	m := make(map[string]asset)
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil // not served: keeps a stray file from going out as the wrong type
		}
		sum := sha256.Sum256(body)
		m[strings.TrimPrefix(p, "static")] = asset{
			body:        body,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("web: reading embedded files: " + err.Error()) // a broken build, not a runtime condition
	}
	m["/"] = m["/index.html"]
	return m
})

// Handler serves the chat page at / and its assets (app.js, rtsync.js,
// style.css, favicon.svg) for GET and HEAD; other paths get 404 and other
// methods 405. Every answer carries the page's Content-Security-Policy
// and X-Content-Type-Options: nosniff. Responses are "no-cache" with an
// ETag: the browser asks each time and gets 304 Not Modified until the
// binary changes.
func Handler() http.Handler {
	a := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// The page URL may carry ?token=; keep it out of Referer headers.
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed; the chat page answers GET", http.StatusMethodNotAllowed)
			return
		}
		f, ok := a[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		// ServeContent answers If-None-Match with 304, HEAD and ranges.
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(f.body))
	})
}
