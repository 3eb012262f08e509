#!/usr/bin/env bash
# Check systemd/edged.service: `systemd-analyze verify` must print nothing (any warning fails,
# not only a non-zero exit), and `systemd-analyze security --offline=yes` must rate it <= 2.0.
# ExecStart points at /opt/edged/bin/edged, which exists only after install; verify checks that
# the binary exists, so a copy with ExecStart at /bin/true is verified instead (all else equal).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
unit="$here/systemd/edged.service"
max_exposure=${MAX_EXPOSURE:-2.0}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's#^ExecStart=/opt/edged/bin/edged#ExecStart=/bin/true#' "$unit" > "$tmp/edged.service"

out=$(systemd-analyze verify "$tmp/edged.service" 2>&1) || { echo "$out"; echo "verify: FAILED"; exit 1; }
if [ -n "$out" ]; then
  echo "$out"
  echo "verify: FAILED (warnings)"
  exit 1
fi
echo "verify: clean"

report=$(systemd-analyze security --offline=yes "$tmp/edged.service" 2>&1)
level=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for edged.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  printf '%s\n' "$report"
  echo "security: could not read the exposure level"
  exit 1
fi
printf '%s\n' "$report" | grep -E '^✗' || true
echo "exposure: $level (max $max_exposure)"
awk -v l="$level" -v m="$max_exposure" 'BEGIN { exit !(l <= m) }' || { echo "security: FAILED"; exit 1; }
