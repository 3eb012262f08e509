#!/usr/bin/env bash
# Install the system packages listed in .ci/apt-packages that are missing: as root with
# apt-get, otherwise print them and the command to run. Never fails the test run by itself.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
mapfile -t wanted < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' .ci/apt-packages)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt packages: all present (${wanted[*]})"
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "apt packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  then exit 0; fi
  echo "apt packages: apt-get failed; tests that need ${missing[*]} will skip (fail under CI=true)"
else
  echo "apt packages missing: ${missing[*]}"
  echo "  install them with:  sudo apt-get install ${missing[*]}"
  echo "  until then the tests that need them skip (and fail under CI=true)"
fi
exit 0
