#!/usr/bin/env bash
# The flake check of docs/RELIABILITY.md: runs the tests that ever failed without a change of code
# (on a loaded machine, in the full suite) N times in a row each, and says per package how many
# runs passed and how long they took. Run from anywhere in the repo, after scripts/test.sh has
# installed the npm packages and chromium.
#
#   scripts/flakecheck.sh [-race] [N [PKG...]]   (N defaults to 20; PKG, e.g. ./web/, picks checks)
set -euo pipefail
cd "$(dirname "$0")/.."

race=()
if [ "${1:-}" = "-race" ]; then
  race=(-race)
  shift
fi
n=${1:-20}
shift || true
only=("$@")

# package and the tests in it that flaked once (docs/RELIABILITY.md, "Flake check", says when).
checks=(
  "./client/ TestDelayedMessage|TestFailover|TestChannelFailoverResubscribes|TestRecvSeesWriteFailure|TestAckBound|TestSilentGatewaySynctest|TestChannelWithheld"
  "./bench/ TestFanoutSmoke|TestFanoutChannelSmoke|TestRelaySmoke"
  "./gateway/ TestReplicaDownAndBack|TestPoller|TestOnePoller"
  "./replica/ TestRequestStatusExpiry"
  "./web/ TestBrowser\$|TestBatchFramesBrowser|TestChannelsBrowser"
)

status=0
for check in "${checks[@]}"; do
  pkg=${check%% *}
  tests=${check#* }
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $pkg "* ]]; then
    continue
  fi
  passed=0
  start=$(date +%s)
  for i in $(seq 1 "$n"); do
    log=$(mktemp)
    if go test "${race[@]}" -count=1 -run "$tests" "$pkg" >"$log" 2>&1; then
      passed=$((passed + 1))
    else
      echo "$pkg run $i of $n FAILED:"
      grep -E -e '--- FAIL|^\s+\S+_test\.go:[0-9]+:|panic:' "$log" | head -20
      status=1
    fi
    rm -f "$log"
  done
  echo "$pkg ($tests): $passed/$n passed in $(( $(date +%s) - start )) s"
done
exit $status
