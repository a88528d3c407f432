package websocket

// Rollback. The host calls Begin before every update, init and timer message, Commit after one
// that returned and Rollback after a trap. Between Begin and Commit the server journals its
// changes: the scalar state is copied at Begin; a client, gateway or queued message is copied the
// first time it changes (its gen stamp says whether it was copied in this transaction); map
// inserts and deletes push their inverse; the certified map journals itself. Lists only ever grow
// in place or are rebuilt into new arrays, so restoring a copied slice header restores the list.

// Begin implements cdk.Transactional.
func (s *Server) Begin() {
	if s.tx {
		s.Commit()
	}
	s.tx = true
	s.gen++
	s.saved = s.st
	s.tree.Begin()
}

// Commit implements cdk.Transactional. It also brings the certified map's hashes up to date (a
// no-op when the message certified, as every message that changes the map does), so that the
// queries that may run concurrently until the next update only read.
func (s *Server) Commit() {
	s.tree.RootHash()
	s.tx = false
	clear(s.undo)
	s.undo = s.undo[:0]
	s.saved = state{}
	s.tree.Commit()
}

// Rollback implements cdk.Transactional: it restores the state Begin saw, exactly.
func (s *Server) Rollback() {
	if !s.tx {
		return
	}
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.st = s.saved
	s.tree.Rollback()
	s.Commit()
}

func (s *Server) journal(undo func()) {
	if s.tx {
		s.undo = append(s.undo, undo)
	}
}

func (s *Server) saveClient(c *client) {
	if s.tx && c.gen != s.gen {
		old := *c
		c.gen = s.gen
		s.undo = append(s.undo, func() { *c = old })
	}
}

func (s *Server) saveGateway(g *gateway) {
	if s.tx && g.gen != s.gen {
		old := *g
		g.gen = s.gen
		s.undo = append(s.undo, func() { *g = old })
	}
}

func (s *Server) saveEntry(e *entry) {
	if s.tx && e.gen != s.gen {
		old := *e
		e.gen = s.gen
		s.undo = append(s.undo, func() { *e = old })
	}
}

func (s *Server) putClient(c *client) {
	s.clients[c.id] = c
	s.journal(func() { delete(s.clients, c.id) })
}

func (s *Server) deleteClient(c *client) {
	delete(s.clients, c.id)
	s.journal(func() { s.clients[c.id] = c })
}

func (s *Server) putGateway(g *gateway) {
	s.gateways[g.id] = g
	s.journal(func() { delete(s.gateways, g.id) })
}

func (s *Server) deleteGateway(g *gateway) {
	delete(s.gateways, g.id)
	s.journal(func() { s.gateways[g.id] = g })
}

func (s *Server) putEntry(e *entry) {
	key := e.key
	s.entries[key] = e
	s.journal(func() { delete(s.entries, key) })
}

func (s *Server) deleteEntryKey(e *entry) {
	key := e.key
	delete(s.entries, key)
	s.journal(func() { s.entries[key] = e })
}

func (s *Server) putPrincipal(c *client) {
	p := c.owner
	old, had := s.byPrincipal[p]
	s.byPrincipal[p] = c
	s.journal(func() {
		if had {
			s.byPrincipal[p] = old
		} else {
			delete(s.byPrincipal, p)
		}
	})
}

func (s *Server) deletePrincipal(c *client) {
	p := c.owner
	delete(s.byPrincipal, p)
	s.journal(func() { s.byPrincipal[p] = c })
}
