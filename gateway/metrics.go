package gateway

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/icws/icws/protocol"
)

// The gateway's metrics, in the Prometheus text exposition format (version 0.0.4), written by hand
// so the gateway needs no metrics library. No series is labelled per client or per canister; every
// label takes values from a fixed, small set.

// counter is a monotonically increasing count.
type counter struct{ v atomic.Uint64 }

func (c *counter) inc()         { c.v.Add(1) }
func (c *counter) add(n uint64) { c.v.Add(n) }
func (c *counter) get() uint64  { return c.v.Load() }

// gauge is a value that goes up and down.
type gauge struct{ v atomic.Int64 }

func (g *gauge) inc()       { g.v.Add(1) }
func (g *gauge) dec()       { g.v.Add(-1) }
func (g *gauge) get() int64 { return g.v.Load() }

// latencyBuckets are the upper bounds, in seconds, of every duration histogram: from a loopback
// query (sub-millisecond) to a mainnet update call under load (seconds).
var latencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// histogram counts durations into latencyBuckets. Observations are lock-free; a scrape may see a
// sum and counts that disagree by the observations in flight, which Prometheus tolerates.
type histogram struct {
	counts   [len(latencyBuckets) + 1]atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sumNanos atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(uint64(d))
}

// Label values of the labelled families. Each family is an array indexed by these constants, so
// its label set is fixed at compile time.

// callResult is the outcome of an IC call.
type callResult int

const (
	resultTrue   callResult = iota // the method answered true (or, for ws_close, succeeded)
	resultFalse                    // the method answered false
	resultReject                   // the IC or the canister rejected the call
	resultError                    // the call failed: transport, timeout, refused response
	numCallResults
)

var callResultNames = [numCallResults]string{"true", "false", "reject", "error"}

// refusal is why a WebSocket upgrade was refused before it happened.
type refusal int

const (
	refusedMaxConnections refusal = iota
	refusedMaxPerIP
	refusedOrigin
	refusedShuttingDown
	refusedBadRequest
	numRefusals
)

var refusalNames = [numRefusals]string{"max_connections", "max_connections_per_ip", "origin", "shutting_down", "bad_request"}

// icMethod is a canister method the gateway calls.
type icMethod int

const (
	methodGetClientKey icMethod = iota
	methodOpen
	methodMessage
	methodClose
	methodGetMessages
	numMethods
)

var methodNames = [numMethods]string{"ws_get_client_key", "ws_open", "ws_message", "ws_close", "ws_get_messages"}

// metricCloseCodes are the close codes counted by icws_gateway_closes_total, in increasing order:
// every code the gateway sends (protocol.CloseCodes, the one list) and 1006 for connections that
// ended without a Close frame. Anything else is "other".
func metricCloseCodes() []protocol.CloseCode {
	codes := append(protocol.CloseCodes(), protocol.CloseAbnormal)
	slices.Sort(codes)
	return codes
}

// hasResults reports whether method's calls are counted by result (icws_gateway_ws_open_total,
// _ws_message_total, _ws_close_total); the queries are counted by latency only.
func hasResults(method icMethod) bool {
	return method == methodOpen || method == methodMessage || method == methodClose
}

// metrics holds every metric of one Gateway.
type metrics struct {
	connections      gauge   // open WebSocket connections, handshake or not
	clients          gauge   // connections whose ws_open succeeded
	connectionsTotal counter // upgrades accepted
	omniaConnections counter // of which at the Omnia endpoint
	refused          [numRefusals]counter
	closeCodes       []protocol.CloseCode // metricCloseCodes
	closes           []counter            // by close code sent or seen, as closeCodes; last is "other"

	framesIn, framesOut counter
	bytesIn, bytesOut   counter
	rateLimited         counter
	badMessages         counter // frames from open clients that were malformed or refused
	queueOverflows      counter

	// results counts the calls of the methods that hasResults, by result (error: given up after
	// retries; a retried attempt counts in retries). Only endCall writes results, retries and
	// icCalls.
	results [numMethods][numCallResults]counter
	retries [numMethods]counter // retried IC calls
	icCalls [numMethods]histogram

	keyCacheHits, keyCacheMisses counter

	pollers            gauge
	polls              counter
	pollErrors         counter
	pollRefused        counter // batches refused for breaking the nonce order
	pollGaps           counter // batches that skip nonces: messages deleted in the canister before they were fetched
	pollDuration       histogram
	messagesPolled     counter
	messagesUnroutable counter // for a client not connected here (any more)
	staleDropped       counter // stale copies held for a reopening client and dropped (reopen.go)
	holdsCut           counter // opening clients' holds ended by their bound (reopen.go)
}

// newMetrics returns the zero metrics with the close-code counters of metricCloseCodes.
func newMetrics() metrics {
	codes := metricCloseCodes()
	return metrics{closeCodes: codes, closes: make([]counter, len(codes)+1)}
}

// closeCounter is the counter of close code code: its own, or "other".
func (m *metrics) closeCounter(code protocol.CloseCode) *counter {
	if i, ok := slices.BinarySearch(m.closeCodes, code); ok {
		return &m.closes[i]
	}
	return &m.closes[len(m.closeCodes)]
}

func (m *metrics) closeCode(code protocol.CloseCode) { m.closeCounter(code).inc() }

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w)
}

// write writes every metric to w in the Prometheus text format. Write errors are ignored: the
// scraper sees a short body.
func (m *metrics) write(w io.Writer) {
	e := expo{w: bufio.NewWriterSize(w, 8192)}
	e.gauge("icws_gateway_connections", "Open WebSocket connections, in the handshake or open.", m.connections.get())
	e.gauge("icws_gateway_clients", "Connections whose ws_open succeeded.", m.clients.get())
	e.counter("icws_gateway_connections_total", "WebSocket upgrades accepted.", m.connectionsTotal.get())
	e.counter("icws_gateway_omnia_connections_total", "WebSocket upgrades accepted at the Omnia endpoint (ic-websocket-js clients), of icws_gateway_connections_total.", m.omniaConnections.get())
	e.header("icws_gateway_connections_refused_total", "WebSocket upgrades refused, by reason.", "counter")
	for i := range m.refused {
		e.sample("icws_gateway_connections_refused_total", "reason", refusalNames[i], float64(m.refused[i].get()))
	}
	e.header("icws_gateway_closes_total", "Connections ended, by WebSocket close code (1006: no close frame).", "counter")
	for i, c := range m.closeCodes {
		e.sample("icws_gateway_closes_total", "code", strconv.Itoa(int(c)), float64(m.closes[i].get()))
	}
	e.sample("icws_gateway_closes_total", "code", "other", float64(m.closes[len(m.closeCodes)].get()))

	e.counter("icws_gateway_frames_in_total", "WebSocket data frames received from clients.", m.framesIn.get())
	e.counter("icws_gateway_frames_out_total", "WebSocket data frames sent to clients.", m.framesOut.get())
	e.counter("icws_gateway_bytes_in_total", "Payload bytes received from clients.", m.bytesIn.get())
	e.counter("icws_gateway_bytes_out_total", "Payload bytes sent to clients.", m.bytesOut.get())
	e.counter("icws_gateway_rate_limited_total", "Frames that exceeded a connection's message rate.", m.rateLimited.get())
	e.counter("icws_gateway_bad_messages_total", "Client frames that were malformed or that the canister refused.", m.badMessages.get())
	e.counter("icws_gateway_queue_overflows_total", "Clients closed because their send queue overflowed.", m.queueOverflows.get())

	callFamily := func(name, help string, results *[numCallResults]counter) {
		e.header(name, help, "counter")
		for i := range results {
			e.sample(name, "result", callResultNames[i], float64(results[i].get()))
		}
	}
	callFamily("icws_gateway_ws_open_total", "ws_open calls, by result.", &m.results[methodOpen])
	callFamily("icws_gateway_ws_message_total", "ws_message calls, by result (error: gave up after retries).", &m.results[methodMessage])
	callFamily("icws_gateway_ws_close_total", "ws_close attempts ended, by result (error: gave up after retries).", &m.results[methodClose])
	e.header("icws_gateway_ic_retries_total", "IC calls retried after a transport error, by method.", "counter")
	for i := range m.retries {
		e.sample("icws_gateway_ic_retries_total", "method", methodNames[i], float64(m.retries[i].get()))
	}
	e.header("icws_gateway_ic_call_duration_seconds", "Latency of IC calls, by method.", "histogram")
	for i := range m.icCalls {
		e.histogram("icws_gateway_ic_call_duration_seconds", "method", methodNames[i], &m.icCalls[i])
	}
	e.counter("icws_gateway_client_key_cache_hits_total", "ws_get_client_key answers served from the cache.", m.keyCacheHits.get())
	e.counter("icws_gateway_client_key_cache_misses_total", "ws_get_client_key answers fetched from the canister.", m.keyCacheMisses.get())

	e.gauge("icws_gateway_pollers", "Running canister pollers.", m.pollers.get())
	e.counter("icws_gateway_polls_total", "ws_get_messages polls.", m.polls.get())
	e.counter("icws_gateway_poll_errors_total", "Polls that failed and were retried with backoff.", m.pollErrors.get())
	e.counter("icws_gateway_poll_refused_total", "Poll batches refused for breaking the nonce order.", m.pollRefused.get())
	e.counter("icws_gateway_poll_gaps_total", "Poll batches that skip nonces (messages deleted in the canister before they were fetched: closed or moved clients, expiry, overflow).", m.pollGaps.get())
	e.header("icws_gateway_poll_duration_seconds", "Latency of ws_get_messages polls.", "histogram")
	e.histogram("icws_gateway_poll_duration_seconds", "", "", &m.pollDuration)
	e.counter("icws_gateway_messages_polled_total", "Canister messages received by polling.", m.messagesPolled.get())
	e.counter("icws_gateway_messages_unroutable_total", "Polled messages for clients not connected to this gateway.", m.messagesUnroutable.get())
	e.counter("icws_gateway_open_holds_cut_total", "Opening clients whose held messages were passed on before the poller caught up, at the send queue's size.", m.holdsCut.get())
	e.counter("icws_gateway_messages_stale_total", "Polled messages for a reopening client dropped as stale: the canister had moved them to new keys, which came too.", m.staleDropped.get())
	e.w.Flush()
}

// expo writes the text exposition format.
type expo struct {
	w   *bufio.Writer
	buf []byte
}

func (e *expo) header(name, help, typ string) {
	e.w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

func (e *expo) counter(name, help string, v uint64) {
	e.header(name, help, "counter")
	e.sample(name, "", "", float64(v))
}

func (e *expo) gauge(name, help string, v int64) {
	e.header(name, help, "gauge")
	e.sample(name, "", "", float64(v))
}

// sample writes `name{label="value"} v`, or `name v` when label is empty. Label values here are
// constants without characters that need escaping.
func (e *expo) sample(name, label, value string, v float64) {
	b := append(e.buf[:0], name...)
	if label != "" {
		b = append(b, '{')
		b = append(b, label...)
		b = append(b, `="`...)
		b = append(b, value...)
		b = append(b, `"}`...)
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	b = append(b, '\n')
	e.buf = b
	e.w.Write(b)
}

// histogram writes the cumulative buckets, sum and count of h, with an optional extra label.
func (e *expo) histogram(name, label, value string, h *histogram) {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(latencyBuckets) {
			le = strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64)
		}
		b := append(e.buf[:0], name...)
		b = append(b, "_bucket{"...)
		if label != "" {
			b = append(b, label...)
			b = append(b, `="`...)
			b = append(b, value...)
			b = append(b, `",`...)
		}
		b = append(b, `le="`...)
		b = append(b, le...)
		b = append(b, `"} `...)
		b = strconv.AppendUint(b, cum, 10)
		b = append(b, '\n')
		e.buf = b
		e.w.Write(b)
	}
	e.sample(name+"_sum", label, value, float64(h.sumNanos.Load())/1e9)
	e.sample(name+"_count", label, value, float64(cum))
}

func appendFloat(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
