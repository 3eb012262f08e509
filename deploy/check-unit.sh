#!/usr/bin/env bash
# Check a systemd unit (default systemd/edged.service):
#   - `systemd-analyze verify` must print nothing: any warning fails, not only a non-zero exit
#     (verify exits 0 on e.g. "Unknown key ..., ignoring").
#   - `systemd-analyze security --offline=yes --threshold=...` must rate it <= MAX_EXPOSURE
#     (default 2.0, "OK"); the exposure score is printed either way.
#   - with systemd 253+, the unit is verified again with systemd/edged.service.d/ drop-ins
#     (Type=notify-reload); older systemd does not know that type, so it is skipped there.
# ExecStart points at /opt/edged/bin/edged, which exists only after install, and verify fails
# on a missing binary: a copy whose ExecStart runs /bin/true (everything else equal) is checked.
#
#   deploy/check-unit.sh [UNIT]        MAX_EXPOSURE=1.5 deploy/check-unit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
unit=${1:-$here/systemd/edged.service}
max_exposure=${MAX_EXPOSURE:-2.0}
name=$(basename "$unit")
command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze missing (apt install systemd)"; exit 2; }
[ -f "$unit" ] || { echo "check-unit: no such unit file: $unit"; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's#^ExecStart=/opt/edged/bin/edged#ExecStart=/bin/true#' "$unit" > "$tmp/$name"

# verify_clean DIR: verify DIR/$name (and the drop-ins beside it); fail on any output
verify_clean() {
  local out
  if ! out=$(cd "$1" && systemd-analyze verify "$1/$name" 2>&1); then
    printf '%s\n' "$out"
    echo "verify: FAILED (exit code)"
    return 1
  fi
  if [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "verify: FAILED (warnings)"
    return 1
  fi
}

verify_clean "$tmp"
echo "verify: clean ($name, ExecStart=/bin/true in the copy)"

version=$(systemd-analyze --version | awk 'NR==1 {print $2}')
dropins="$(dirname "$unit")/$name.d"
if [ -d "$dropins" ]; then
  if [ "$version" -ge 253 ]; then
    mkdir -p "$tmp/with-dropins/$name.d"
    cp "$tmp/$name" "$tmp/with-dropins/$name"
    cp "$dropins"/*.conf "$tmp/with-dropins/$name.d/"
    verify_clean "$tmp/with-dropins"
    echo "verify: clean with drop-ins ($(basename -a "$dropins"/*.conf | tr '\n' ' '))"
  else
    echo "verify: drop-ins in $dropins not checked (systemd $version < 253, no Type=notify-reload)"
  fi
fi

threshold=$(awk -v m="$max_exposure" 'BEGIN { printf "%d", m * 10 + 0.5 }')
rc=0
report=$(systemd-analyze security --offline=yes --threshold="$threshold" "$tmp/$name" 2>&1) || rc=$?
level=$(printf '%s\n' "$report" | sed -n "s/.*Overall exposure level for $name: \([0-9.]*\).*/\1/p")
if [ -z "$level" ]; then
  printf '%s\n' "$report"
  echo "security: could not read the exposure level"
  exit 1
fi
printf '%s\n' "$report" | grep -E '^✗' || true
echo "exposure: $level (max $max_exposure)"
if [ "$rc" -ne 0 ]; then
  echo "security: FAILED (exposure $level above $max_exposure)"
  exit 1
fi
echo "security: OK"
