package server

import (
	"net/http"
	"net/http/pprof"
)

// pprofPath is where the Go profiler is served when Config.Pprof is set.
const pprofPath = "/debug/pprof/"

// registerPprof serves net/http/pprof under pprofPath, behind the API's
// authentication: a profile shows what the server runs and can cost it a
// CPU for its duration, so it is never open to everyone.
func (s *Server) registerPprof(mux *http.ServeMux) {
	mux.Handle(pprofPath, s.guarded(http.HandlerFunc(pprof.Index)))
	mux.Handle(pprofPath+"cmdline", s.guarded(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle(pprofPath+"profile", s.guarded(http.HandlerFunc(pprof.Profile)))
	mux.Handle(pprofPath+"symbol", s.guarded(http.HandlerFunc(pprof.Symbol)))
	mux.Handle(pprofPath+"trace", s.guarded(http.HandlerFunc(pprof.Trace)))
}

// guarded serves h under the API's authentication rule: with API keys
// configured a Bearer key is required, without them the caller must be on
// this machine.
func (s *Server) guarded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.api.authenticate(r); err != nil {
			s.api.writeError(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
