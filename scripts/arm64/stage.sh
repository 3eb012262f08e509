#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted scripts are run inside the chroot
# make test-arm64: edged on an emulated Raspberry Pi 4. arm64 Debian Bookworm and Trixie roots
# (debootstrap, cached), qemu-user 10 from Trixie under binfmt_misc, QEMU_CPU=cortex-a72:
# the real deploy/install.sh, edged doctor, edged demo, the classification known answers, a
# subset of the tests, and the Pi 4 CPU check (no crypto extensions), on LiteRT on both
# releases and on tflite-runtime on Bookworm. docs/raspberry-pi.md explains it.
#
# Environment: EDGED_ARM64_CACHE (default ~/.cache/edged-arm64), EDGED_ARM64_RELEASES
# (default "bookworm trixie"), EDGED_ARM64_MIRROR (default: this host's apt mirror),
# EDGED_TESTDATA (default ../shared/testdata), CI=true (a setup problem fails instead of skips).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
cache=${EDGED_ARM64_CACHE:-$HOME/.cache/edged-arm64}
releases=${EDGED_ARM64_RELEASES:-bookworm trixie}
testdata=${EDGED_TESTDATA:-$src/../shared/testdata}
# shellcheck disable=SC2034  # used by setup.sh
# no python3-pip nor ca-certificates: venvs get pip from ensurepip (python3-venv), and pip is
# given the host's CA bundle (PIP_CERT, see in_root); update-ca-certificates alone takes
# minutes under emulation
rootfs_packages=python3,python3-venv,python3-systemd
# shellcheck disable=SC2034
rootfs_version=1  # bump to rebuild every cached root
# the tests that matter most on the Pi: runtime, daemon, preprocess, tasks, CURVE. Not
# test_faults.py: with both releases emulated side by side its 20 s first-message deadline
# was missed once (a warm run); the faults run natively in the core and tflite passes
tests=(tests/test_runtime.py tests/test_daemon.py tests/test_preprocess.py tests/test_area.py
       tests/test_tasks.py tests/test_classify.py tests/test_curve.py
       "tests/test_fuzz.py::test_image_claiming_huge_dimensions_is_refused")
tflite_tests=(tests/test_runtime.py tests/test_daemon.py tests/test_classify.py)
# shellcheck source=scripts/arm64/setup.sh
source "$here/setup.sh"

timings=()
stage_start=$SECONDS
# timed LABEL CMD...: run CMD, record its wall time
timed() {
  local label=$1 t0=$SECONDS; shift
  echo "=== [arm64] $label"
  if ! "$@"; then
    echo "=== [arm64] FAILED: $label (after $((SECONDS - t0)) s)" >&2
    summary
    exit 1
  fi
  timings+=("$(printf '%5d s  %s' $((SECONDS - t0)) "$label")")
}

summary() {
  echo "=== [arm64] timings (wall, this run; cache: $cache)"
  printf '  %s\n' "${timings[@]}"
  echo "  $(printf '%5d s  total' $((SECONDS - stage_start)))"
}

# venv ROOT NAME PIP-ARGS...: set $venv to a venv in ROOT keyed by what goes into it, reused
# while the key is unchanged
venv() {
  local root=$1 name=$2; shift 2
  local key
  key=$(printf '%s\n' "$@" | cat - "$src/deploy/requirements.txt" | sha256sum | cut -c1-12)
  local dir="/opt/$name-$key"
  if [ ! -e "$root$dir/.complete" ]; then
    rm -rf "$root$dir" "$root/opt/$name"-*
    in_root "$root" python3 -m venv "$dir" || return 1
    in_root "$root" "$dir/bin/pip" install -q --only-binary=:all: "$@" || return 1
    touch "$root$dir/.complete"
  fi
  venv=$dir
}

# expect WHAT CMD...: CMD must succeed (set -e does not apply inside timed's "if")
expect() {
  local what=$1; shift
  "$@" || { echo "[arm64] check failed: $what" >&2; return 1; }
}

check_install() {
  local root=$1 out
  # a cached root was installed before: a changed unit makes this run an update with reloads
  rm -f "$root/etc/systemd/system/edged.service"
  # --offline --model mobilenet_v2 --models: CI reaches Debian's archive and PyPI, not GitHub,
  # so the catalogue model comes from the test data and the config is pointed at it
  out=$(in_root "$root" bash -c 'mkdir /tmp/models && cd /shared/testdata &&
    cp labels/imagenet_labels.txt models/mobilenet_v2_1.0_224_quant.tflite /tmp/models/ &&
    bash /src/deploy/install.sh --offline --model mobilenet_v2 --models /tmp/models' 2>&1) ||
    { echo "$out"; return 1; }
  echo "$out"
  expect "one warning" [ "$(grep -c WARNING <<<"$out")" -eq 1 ] || return 1
  expect "picamera2 skipped" grep -q "WARNING: python3-picamera2" <<<"$out" || return 1
  expect "systemd-only steps skipped" \
    grep -q "skip (systemd is not running): systemctl daemon-reload" <<<"$out" || return 1
  expect "reloads pending" [ -e "$root/var/lib/edged/.reload-pending" ] || return 1
  echo "[arm64] install.sh: systemd-only steps skipped (no systemd in a chroot); reloads pending"
  # a fake systemd (PID 1 is no systemd here): the next run makes the pending reloads
  mkdir -p "$root/usr/local/lib/edged-arm64/fake"
  for tool in systemctl udevadm; do
    printf '#!/bin/sh\necho "%s $*" >> /run/fake-systemd.log\n' "$tool" \
      > "$root/usr/local/lib/edged-arm64/fake/$tool"
    chmod 0755 "$root/usr/local/lib/edged-arm64/fake/$tool"
  done
  out=$(in_root "$root" bash -c 'mkdir -p /run/systemd/system &&
    PATH=/usr/local/lib/edged-arm64/fake:$PATH bash /src/deploy/install.sh --offline \
      --model mobilenet_v2 &&
    echo "--- fake systemd saw:" && cat /run/fake-systemd.log' 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  expect "pending reloads announced" \
    grep -q "pending: reloads left by an earlier run" <<<"$out" || return 1
  expect "daemon-reload made" grep -qx "systemctl daemon-reload" <<<"$out" || return 1
  expect "udev rules reloaded" grep -qx "udevadm control --reload-rules" <<<"$out" || return 1
  expect "pending mark cleared" [ ! -e "$root/var/lib/edged/.reload-pending" ] || return 1
  echo "[arm64] install.sh: the pending reloads were made by the next run"
}

# check_demo ROOT PYTHONPATH EDGED-COMMAND...
check_demo() {
  local root=$1 pythonpath=$2 out; shift 2
  out=$(in_root "$root" env PYTHONPATH="$pythonpath" "$@" demo --count 40 2>&1) \
    || { echo "$out"; return 1; }
  echo "$out" | tail -4
  local n
  n=$(sed -n 's#^\([0-9]*\)/40 predictions match the shape drawn#\1#p' <<<"$out")
  [ -n "$n" ] && [ "$n" -ge 38 ] && grep -q "daemon stopped (exit code 0)" <<<"$out"
}

# no camera and no Edge TPU in a chroot: warnings; the runtime, the installed config and the
# area kernel (built by install.sh's pip for aarch64) pass
check_doctor() {
  local root=$1 out
  out=$(in_root "$root" /opt/edged/bin/edged doctor 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  grep -qE '^\[ *OK\] runtime litert' <<<"$out" && grep -qE '^\[ *OK\] config' <<<"$out" \
    && grep -qE '^\[ *OK\] area resize' <<<"$out"
}

# gcc and python3-dev, as deploy/install.sh installs them on a Pi, so that pip builds edged's
# area kernel (edged/_area.c) for aarch64 and it runs under the emulated Cortex-A72. Installed
# once into the cached root (not a debootstrap package: that would rebuild every cached root).
ensure_compiler() {
  local root=$1 log
  log="$cache/rootfs/$(basename "$root")-compiler.log"
  in_root "$root" sh -c 'command -v gcc && command -v python3-config' >/dev/null 2>&1 && return 0
  in_root "$root" env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get update -q &&
    apt-get install -y -q --no-install-recommends gcc libc6-dev python3-dev' > "$log" 2>&1 \
    || { tail -20 "$log" >&2; return 1; }
}

# the kernel in /src too, for the tests that import edged from there
build_kernel_in_src() {
  in_root "$1" sh -c 'cd /src && gcc -O3 -shared -fPIC $(python3-config --includes) \
    edged/_area.c -o "edged/_area$(python3-config --extension-suffix)"'
}

run_tests() {
  local root=$1 py=$2; shift 2
  in_root "$root" bash -c 'cd /src && EDGED_REQUIRE_AREA_KERNEL=1 "$@"' _ "$py" -m pytest -q \
    -p no:cacheprovider "$@"
}

cpu_check() {
  local root=$1 py=$2 crypto=$3; shift 3
  local cmd=("$py" /src/scripts/arm64/pi4_cpu_check.py /shared/testdata --crypto "$crypto" "$@")
  if [ "$crypto" = no ]; then
    # qemu run explicitly, not through binfmt: the crypto-less copy, one process
    cmd=(/usr/local/lib/edged-arm64/qemu-aarch64-nocrypto -cpu cortex-a72 "${cmd[@]}")
  fi
  in_root "$root" env PYTHONPATH=/src "${cmd[@]}"
}

release_stage() {
  local rel=$1 root venv venv_litert venv_tflite
  timed "$rel: root filesystem (debootstrap, cached)" rootfs "$rel"
  timed "$rel: gcc and python3-dev in the root (cached)" ensure_compiler "$root"
  copy_src "$root"
  timed "$rel: edged/_area.c built in /src (aarch64)" build_kernel_in_src "$root"
  echo "[arm64] $rel: $root ($(in_root "$root" python3 --version)," \
       "$(in_root "$root" grep -m1 'CPU part' /proc/cpuinfo | tr -s '\t ' ' '))"
  timed "$rel: deploy/install.sh in the chroot (real run)" check_install "$root"
  timed "$rel: edged doctor" check_doctor "$root"
  timed "$rel: edged demo (LiteRT, subscriber)" check_demo "$root" "" /opt/edged/bin/edged
  timed "$rel: known answers (LiteRT)" in_root "$root" /opt/edged/bin/python \
    /src/scripts/arm64/known_answers.py /shared/testdata --runtime litert
  timed "$rel: test venv (cached)" venv "$root" edged-test -r /src/deploy/requirements.txt \
    opencv-python-headless pytest hypothesis
  venv_litert=$venv
  timed "$rel: pytest subset (LiteRT)" run_tests "$root" "$venv_litert/bin/python" "${tests[@]}"
  timed "$rel: Pi 4 CPU check, cortex-a72 with crypto (control)" \
    cpu_check "$root" "$venv_litert/bin/python" yes --runtime litert
  timed "$rel: Pi 4 CPU check, cortex-a72 WITHOUT crypto (LiteRT)" \
    cpu_check "$root" "$venv_litert/bin/python" no --runtime litert
  [ "$rel" = bookworm ] || return 0
  # tflite-runtime 2.14: numpy 1.x, Python <= 3.11 (no Trixie wheel)
  timed "$rel: tflite-runtime venv (cached)" venv "$root" edged-tflite 'tflite-runtime==2.14.*' \
    'numpy<2' pyzmq pydantic PyYAML Pillow 'opencv-python-headless<4.11' pytest hypothesis
  venv_tflite=$venv
  timed "$rel: edged demo (tflite-runtime)" check_demo "$root" /src \
    "$venv_tflite/bin/python" -m edged
  timed "$rel: known answers (tflite-runtime)" in_root "$root" env PYTHONPATH=/src \
    "$venv_tflite/bin/python" /src/scripts/arm64/known_answers.py /shared/testdata \
    --runtime tflite-runtime
  timed "$rel: pytest subset (tflite-runtime)" \
    run_tests "$root" "$venv_tflite/bin/python" "${tflite_tests[@]}"
  timed "$rel: Pi 4 CPU check, WITHOUT crypto (tflite-runtime)" \
    cpu_check "$root" "$venv_tflite/bin/python" no --runtime tflite-runtime
}

# one stage at a time on a machine: two at once (four test suites under emulation) miss the
# tests' deadlines (20 s for a daemon's first message) on a loaded 2-core machine
exec 8>"${TMPDIR:-/tmp}/edged-arm64-stage.lock"
flock 8
[ -d "$testdata/models" ] || unavailable "test data not found at $testdata (EDGED_TESTDATA)"
testdata=$(cd "$testdata" && pwd)
timed "host tools" need_host_tools
timed "qemu-user from Trixie (cached)" setup_qemu
timed "binfmt_misc" setup_binfmt
# the releases run side by side (emulation is CPU-bound and single-threaded per process),
# each into its own log, shown when both are done
logs="$cache/logs"
mkdir -p "$logs"
declare -A pids
# on exit, stop what is still running: each release's subshell and its children (unshare
# --kill-child then ends everything inside that namespace)
stop_jobs() {
  local pid children
  for pid in "${pids[@]}"; do
    read -r -a children <<<"$(ps -o pid= --ppid "$pid" 2>/dev/null | tr '\n' ' ')"
    kill "${children[@]}" "$pid" 2>/dev/null || true
  done
}
trap stop_jobs EXIT
for rel in $releases; do
  echo "=== [arm64] $rel: started (log: $logs/$rel.log)"
  (timings=(); stage_start=$SECONDS; release_stage "$rel" && summary) > "$logs/$rel.log" 2>&1 &
  pids[$rel]=$!
done
failed=()
for rel in $releases; do
  wait "${pids[$rel]}" || failed+=("$rel")
  echo "=================== [arm64] $rel ==================="
  cat "$logs/$rel.log"
done
summary
if [ ${#failed[@]} -gt 0 ]; then
  echo "test-arm64: FAILED on ${failed[*]}" >&2
  exit 1
fi
echo "test-arm64: passed ($releases; cortex-a72 with and without crypto)"
