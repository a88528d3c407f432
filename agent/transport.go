package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/icws/icws/ic/cbor"
)

// maxResponseBytes bounds the size of a response body the agent reads. The IC's largest answers
// (a query reply of up to 3 MiB, a subnet certificate of some tens of KiB) fit well below it.
const maxResponseBytes = 8 << 20

// contentTypeCBOR is the content type of every request body and of every success response.
const contentTypeCBOR = "application/cbor"

// maxTransientRetries is how many times a request is repeated after a transient HTTP answer
// (429, 502, 503, 504). Repeating is safe: a signed call has the same request id every time, and
// the IC executes a request id at most once.
const maxTransientRetries = 2

// defaultHTTPClient returns the client used when Config.HTTPClient is nil: one pooled transport
// that keeps enough idle connections per host for a gateway making thousands of calls.
func defaultHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// response is an HTTP answer read in full.
type response struct {
	status int
	body   []byte
	url    string
}

// post sends a CBOR body to the path (which starts with "/api/") and reads the answer. Transient
// HTTP answers are retried a few times with a short backoff; other non-2xx answers are returned as
// *HTTPError.
func (a *Agent) post(ctx context.Context, path string, body []byte) (response, error) {
	return a.roundTrip(ctx, http.MethodPost, path, body)
}

// get fetches path with GET, with the same rules as post.
func (a *Agent) get(ctx context.Context, path string) (response, error) {
	return a.roundTrip(ctx, http.MethodGet, path, nil)
}

func (a *Agent) roundTrip(ctx context.Context, method, path string, body []byte) (response, error) {
	url := a.base + path
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, err := a.once(ctx, method, url, body)
		if err != nil {
			return response{}, err
		}
		if resp.status >= 200 && resp.status < 300 {
			if err := checkTag(resp.body); err != nil {
				return response{}, invalidf("answer of %s: %w", url, err)
			}
			return resp, nil
		}
		herr := newHTTPError(url, resp.status, resp.body)
		if !herr.Temporary() || attempt >= maxTransientRetries {
			return resp, herr
		}
		a.log.DebugContext(ctx, "agent: transient HTTP answer, retrying", "url", url, "status", resp.status, "attempt", attempt+1)
		if err := sleep(ctx, backoff); err != nil {
			return resp, fmt.Errorf("%w (after %w)", err, herr)
		}
		backoff *= 4
	}
}

// once performs one HTTP exchange, bounded by Config.RequestTimeout.
func (a *Agent) once(ctx context.Context, method, url string, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, a.requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, fmt.Errorf("agent: bad request URL: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeCBOR)
	}
	req.Header.Set("Accept", contentTypeCBOR)
	res, err := a.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("agent: %s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	data, err := readBody(res)
	if err != nil {
		return response{}, fmt.Errorf("agent: reading the answer of %s: %w", url, err)
	}
	return response{status: res.StatusCode, body: data, url: url}, nil
}

// readBody reads at most maxResponseBytes of a response body.
func readBody(res *http.Response) ([]byte, error) {
	n := res.ContentLength
	if n > maxResponseBytes {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds the limit of %d", ErrInvalidResponse, n, maxResponseBytes)
	}
	if n >= 0 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(res.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("%w: body exceeds the limit of %d bytes", ErrInvalidResponse, maxResponseBytes)
	}
	return data, nil
}

// sleep waits for d or until ctx is done, without leaving a goroutine or timer behind.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// isContextErr reports whether err comes from a cancelled or expired context.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// checkTag checks that a CBOR body is tagged with nothing or with the self-describe tag 55799, as
// every body of the IC is. (The CBOR decoder ignores tags it does not know; a body tagged otherwise
// has been altered on its way.)
func checkTag(body []byte) error {
	const majorTag = 6
	if len(body) == 0 || body[0]>>5 != majorTag || bytes.HasPrefix(body, []byte(cbor.SelfDescribePrefix)) {
		return nil
	}
	return fmt.Errorf("the body starts with a CBOR tag other than the self-describe tag 55799 (% x)", body[:min(len(body), 3)])
}
