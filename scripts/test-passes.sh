#!/usr/bin/env bash
# Run every test pass (a make target each) even after one fails, then print one summary of
# all failures and the totals. `make test` calls it with $(TEST_PASSES); logs: build/test-logs/.
#   scripts/test-passes.sh PASS...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
logs=build/test-logs
mkdir -p "$logs" && rm -f "$logs"/*.log
make_cmd=${MAKE:-make}
failed=()
for pass in "$@"; do
  echo "=== make $pass"
  started=$SECONDS
  "$make_cmd" --no-print-directory "$pass" 2>&1 | tee "$logs/$pass.log"
  rc=${PIPESTATUS[0]}
  echo "=== make $pass: exit code $rc, $((SECONDS - started)) s"
  [ "$rc" -eq 0 ] || failed+=("$pass")
done

# pytest's closing lines, e.g. "2 failed, 310 passed, 4 skipped in 95.1s", summed over passes
count() {
  grep -hE '^(=+ )?[0-9]+ [a-z]+.* in [0-9.]+s' "$logs"/*.log 2>/dev/null \
    | grep -oE "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'
}
echo
echo "=== summary of ${#} passes (logs in $logs/)"
for pass in "$@"; do
  if [[ " ${failed[*]} " == *" $pass "* ]]; then
    echo "FAILED pass: $pass"
    if grep -qE '^(FAILED|ERROR) ' "$logs/$pass.log"; then
      grep -E '^(FAILED|ERROR) ' "$logs/$pass.log" | cut -c1-240 | sed 's/^/    /'
    else
      tail -n 8 "$logs/$pass.log" | sed 's/^/    /'
    fi
  else
    echo "ok     pass: $pass"
  fi
done
passed=$(count passed)
failures=$(( $(count failed) + $(count errors?) ))
skipped=$(count skipped)
echo "passes: ${#} run, ${#failed[@]} failed${failed[*]:+ (${failed[*]})}"
echo "tests: $passed passed, $failures failed, $skipped skipped"
[ ${#failed[@]} -eq 0 ]
