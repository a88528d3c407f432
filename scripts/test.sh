#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then checks formatting,
# vet, staticcheck and runs every Go test with the race detector. Run from anywhere in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

echo "== npm packages (official @dfinity/agent for interop tests, the browser client's build)"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# The real ic-websocket-js 0.5 (Omnia's client) needs agent-js 2, which the root's agent-js 3 excludes.
if [ ! -d gateway/testdata/omnia-js/node_modules ] || [ gateway/testdata/omnia-js/package-lock.json -nt gateway/testdata/omnia-js/node_modules/.package-lock.json ]; then
  (cd gateway/testdata/omnia-js && npm ci --no-audit --no-fund)
fi

echo "== chromium (browser tests drive Debian's Chromium with playwright-core)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser tests need Debian's chromium: run 'sudo apt-get install -y chromium'"; exit 1
  fi
fi

echo "== web/dist matches web/src"
node web/build.mjs --check

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck $STATICCHECK_VERSION"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

echo "== go test -race"
export ICWS_REQUIRE_NPM=1 # the JS-dependent tests fail, never skip, when npm packages are missing
go test -race -count=1 -timeout 20m ./...

echo "== pure Go: CGO_ENABLED=0 builds and the IC primitives on the gnark-crypto BLS"
CGO_ENABLED=0 go build ./...
CGO_ENABLED=0 go test -count=1 ./ic/...
for target in windows/amd64 linux/arm64 darwin/arm64; do
  CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -o /dev/null ./cmd/icws
done
