package replica

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/icws/icws/ic/cbor"
	"github.com/icws/icws/ic/principal"
)

// routes builds the HTTP interface: the endpoints of the IC's public API (v2, v3, v4) behind
// CORS. Anything else is 404, as agent-js needs to fall back from v3 to v2.
func (r *Replica) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/status", r.handleStatus)
	mux.HandleFunc("GET "+CanisterNamesPath, r.handleCanisterNames)
	mux.HandleFunc("POST /api/v2/canister/{ecid}/call", r.handleCall(false))
	mux.HandleFunc("POST /api/v3/canister/{ecid}/call", r.handleCall(true))
	mux.HandleFunc("POST /api/v4/canister/{ecid}/call", r.handleCall(true))
	for _, v := range []string{"v2", "v3"} {
		mux.HandleFunc("POST /api/"+v+"/canister/{ecid}/query", r.handleQuery)
		mux.HandleFunc("POST /api/"+v+"/canister/{ecid}/read_state", r.handleReadState(scopeCanister))
		mux.HandleFunc("POST /api/"+v+"/subnet/{ecid}/read_state", r.handleReadState(scopeSubnet))
	}
	return cors(mux)
}

// cors adds the CORS headers of the IC's HTTP endpoint (any origin; GET and POST; the headers
// Authorization, Accept and Content-Type; no Vary) and answers preflight requests.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if req.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Accept, Content-Type")
			h.Set("Access-Control-Max-Age", "7200")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// plainError answers with a status and a plain-text message, as the IC does for HTTP errors.
func plainError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// httpError is a failure that becomes an HTTP status and a plain-text body.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *httpError) { plainError(w, e.status, e.msg) }

// writeCBOR answers 200 with an encoded CBOR body.
func writeCBOR(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// writeValue encodes v (with the self-describe tag) and answers 200 with it.
func (r *Replica) writeValue(w http.ResponseWriter, v any) {
	body, err := cbor.Marshal(v)
	if err != nil {
		r.log.Error("replica: encode response", "err", err)
		plainError(w, http.StatusInternalServerError, "Could not encode the response: "+err.Error())
		return
	}
	writeCBOR(w, body)
}

// readBody checks the content type and reads the body of a POST, within MaxBodySize.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, *httpError) {
	if !isCBOR(req.Header.Get("Content-Type")) {
		return nil, errorf(http.StatusBadRequest, "Unexpected content-type, expected application/cbor.")
	}
	if req.ContentLength > MaxBodySize {
		return nil, errorf(http.StatusRequestEntityTooLarge, "Request body is too large: %d bytes, the limit is %d bytes.", req.ContentLength, MaxBodySize)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodySize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errorf(http.StatusRequestEntityTooLarge, "Request body is too large: the limit is %d bytes.", MaxBodySize)
		}
		return nil, errorf(http.StatusBadRequest, "Could not read the request body: %v", err)
	}
	return body, nil
}

func isCBOR(contentType string) bool {
	if strings.EqualFold(contentType, "application/cbor") {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/cbor"
}

// pathPrincipal parses the principal in the URL.
func pathPrincipal(req *http.Request, what string) (principal.Principal, *httpError) {
	text := req.PathValue("ecid")
	p, err := principal.Decode(text)
	if err != nil {
		return principal.Principal{}, errorf(http.StatusBadRequest, "Invalid %s in URL %q: %v", what, text, err)
	}
	return p, nil
}

// statusResponse is the body of /api/v2/status.
type statusResponse struct {
	ICAPIVersion        string `cbor:"ic_api_version"`
	ImplVersion         string `cbor:"impl_version"`
	ImplHash            string `cbor:"impl_hash"`
	RootKey             []byte `cbor:"root_key"`
	ReplicaHealthStatus string `cbor:"replica_health_status"`
	CertifiedHeight     uint64 `cbor:"certified_height"`
}

// ImplVersion is reported as impl_version in /api/v2/status.
const ImplVersion = "icws-replica-0.1.0"

func (r *Replica) handleStatus(w http.ResponseWriter, req *http.Request) {
	r.mu.RLock()
	height := r.state.height
	r.mu.RUnlock()
	r.writeValue(w, statusResponse{
		ICAPIVersion:        "0.18.0",
		ImplVersion:         ImplVersion,
		ImplHash:            "",
		RootKey:             r.rootDER,
		ReplicaHealthStatus: "healthy",
		CertifiedHeight:     height,
	})
}
