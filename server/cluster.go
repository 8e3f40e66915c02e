package server

// resync reads what the members of rooms here may have missed.
func (s *Server) resync(rooms []string) {}

// answerQuery answers another node's query.
func (s *Server) answerQuery(kind string, args []byte) []byte { return nil }
