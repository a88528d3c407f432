package websocket

import (
	"slices"

	"github.com/icws/icws/cdk"
)

// maxCollectPerTick bounds the expired messages one tick deletes (the rest go at the next).
const maxCollectPerTick = 20000

// Timer is the canister's global-timer method (Register installs it). Each tick deletes expired
// messages, forgets registrations never opened within RegistrationTTL, closes sessions older than
// SessionTTL, detached clients past DetachGrace and clients whose keep-alives stopped, sends
// heartbeats, runs OnTick, and sets the next tick while there are clients or messages.
func (s *Server) Timer(ic cdk.System) {
	s.st.timerAt = 0
	now := ic.Time()
	s.collect(now, maxCollectPerTick)
	s.collectChannels(now)

	// Clients in id order, so that a replicated run is deterministic.
	ids := make([]uint64, 0, len(s.clients))
	for id := range s.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	regTTL, sessionTTL, grace := ns(s.cfg.RegistrationTTL), ns(s.cfg.SessionTTL), ns(s.cfg.DetachGrace)
	beat, idle := ns(s.cfg.HeartbeatInterval), ns(s.cfg.IdleTimeout)
	older := func(t, d uint64) bool { return now > t && now-t > d }
	for _, id := range ids {
		c := s.clients[id]
		if c == nil { // closed by a callback of this tick
			continue
		}
		if s.omnia() {
			if c.gw != nil {
				s.omniaTick(ic, c, now)
			}
			continue
		}
		switch {
		case c.gw == nil:
			if older(c.registered, regTTL) {
				s.deleteClient(c)
			}
		case sessionTTL > 0 && older(c.registered, sessionTTL):
			s.close(ic, c, closing{text: "session expired"})
		case c.detached != 0:
			// Waiting for a reopen: no heartbeats, no keep-alive timeout, only the grace.
			if older(c.detached, grace) {
				s.st.stats.DetachExpired++
				s.close(ic, c, closing{gone: true})
			}
		case beat > 0 && c.keepalive && older(c.lastIn, idle):
			s.close(ic, c, closing{text: "keep-alive timeout"})
		case beat > 0 && c.keepalive && (now < c.lastBeat || now-c.lastBeat >= beat):
			s.saveClient(c)
			c.lastBeat = now
			s.enqueueService(ic, c, "")
		}
	}
	if s.cfg.OnTick != nil {
		s.cfg.OnTick(ic)
	}
	s.certify(ic)
	if len(s.clients) > 0 || len(s.entries) > 0 || s.channelMessages() {
		s.ensureTimer(ic)
	}
}
