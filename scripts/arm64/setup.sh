# Sourced by stage.sh: the emulator, binfmt_misc, the cached root filesystems and the chroot
# shellcheck shell=bash disable=SC2154,SC2016
# runner. Everything cached lives under $cache (outside the clone).

# unavailable MESSAGE: emulation cannot be set up. Under CI=true that is a failure.
unavailable() {
  if [ "${CI:-}" = "true" ]; then
    echo "test-arm64: FAILED: emulation cannot be set up: $*" >&2
    exit 1
  fi
  echo "test-arm64: SKIPPED (it would fail under CI=true): emulation cannot be set up: $*"
  exit 0
}

# the Debian mirror this host's apt uses (no host name is written in this repository)
debian_mirror() {
  if [ -n "${EDGED_ARM64_MIRROR:-}" ]; then echo "$EDGED_ARM64_MIRROR"; return; fi
  apt-cache policy 2>/dev/null \
    | awk '$2 ~ /^https?:/ && $3 ~ /^[a-z]+\/main$/ {print $2; exit}'
}

need_host_tools() {
  [ "$(id -u)" -eq 0 ] || unavailable "needs root (debootstrap, chroot, mounts, binfmt_misc)"
  local t
  for t in unshare chroot mount dpkg-deb apt-get git; do
    command -v "$t" >/dev/null || unavailable "$t is missing"
  done
  [ -s /etc/ssl/certs/ca-certificates.crt ] || unavailable "no /etc/ssl/certs/ca-certificates.crt"
  if ! command -v debootstrap >/dev/null; then
    echo "[arm64] installing debootstrap"
    apt-get install -y -q -o DPkg::Lock::Timeout=600 debootstrap >/dev/null \
      || unavailable "apt-get install debootstrap failed"
  fi
}

# qemu-aarch64 from Trixie's qemu-user (10.x): Bookworm's 7.2 does not emulate /proc/cpuinfo
# for aarch64 and LiteRT then segfaults. Unpacked, never installed; plus the crypto-less copy.
setup_qemu() {
  local dir="$cache/qemu" mirror apt
  qemu="$dir/qemu-aarch64"
  qemu_nocrypto="$dir/qemu-aarch64-nocrypto"
  if [ ! -x "$qemu" ]; then
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || unavailable "no Debian mirror in apt's sources (set EDGED_ARM64_MIRROR)"
    apt="$dir/apt"
    rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
    echo "deb $mirror trixie main" > "$apt/sources.list"
    : > "$apt/status"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
                -o "Dir::State::Lists=$apt/lists" -o "Dir::State::Status=$apt/status"
                -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    apt-get -q "${opts[@]}" update >/dev/null || unavailable "apt-get update (trixie) failed"
    (cd "$apt/dl" && apt-get -q "${opts[@]}" download qemu-user >/dev/null) \
      || unavailable "apt-get download qemu-user (trixie) failed"
    dpkg-deb -x "$apt"/dl/qemu-user_*.deb "$apt/x"
    install -m 0755 "$apt/x/usr/bin/qemu-aarch64" "$qemu.tmp"
    rm -rf "$apt" && mv "$qemu.tmp" "$qemu"
  fi
  if [ ! -x "$qemu_nocrypto" ]; then
    python3 "$here/patch_qemu.py" "$qemu" "$qemu_nocrypto" || unavailable "patch_qemu.py failed"
  fi
  echo "[arm64] $("$qemu" --version | head -1)"
}

# binfmt_misc runs every aarch64 ELF under $qemu ('F': the interpreter is opened now, so it
# works inside a chroot). The entry is global to this kernel; it is left registered.
setup_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc entry=/proc/sys/fs/binfmt_misc/edged-aarch64
  [ -e "$bm/register" ] || mount -t binfmt_misc binfmt_misc "$bm" 2>/dev/null \
    || unavailable "cannot mount binfmt_misc at $bm"
  local current
  current=$(sed -n 's/^interpreter //p' "$entry" 2>/dev/null)
  # another cache's copy of the same qemu is kept: removing it would break runs using it
  if [ -n "$current" ] && ! cmp -s "$current" "$qemu"; then echo -1 > "$entry"; fi
  if [ ! -e "$entry" ]; then
    local magic='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    local mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
    echo ":edged-aarch64:M::$magic:$mask:$qemu:F" > "$bm/register" \
      || unavailable "cannot register qemu-aarch64 with binfmt_misc"
  fi
  [ -e "$bm/qemu-aarch64" ] && grep -q enabled "$bm/qemu-aarch64" \
    && echo "[arm64] note: another qemu-aarch64 binfmt entry exists; edged-aarch64 is newer"
  return 0
}

# rootfs RELEASE: set $root to the cached root of RELEASE, building it when the key changed
rootfs() {
  local release=$1 key dir
  key=$(printf '%s\n' "$release" "$rootfs_packages" "$rootfs_version" | sha256sum | cut -c1-12)
  dir="$cache/rootfs/$release-$key"
  if [ ! -e "$dir/.complete" ]; then
    local tmp="$dir.tmp"
    rm -rf "$tmp" && mkdir -p "$cache/rootfs"
    # not --foreign: debootstrap's own scripts (its perl scans of the Packages file) run
    # natively and only the target's binaries (dpkg, maintainer scripts) under qemu through
    # binfmt_misc; its /proc and /sys mounts stay in a private mount namespace
    QEMU_CPU=cortex-a72 nice -n 10 unshare --mount --propagation private \
      debootstrap --arch=arm64 --variant=minbase --include="$rootfs_packages" \
      "$release" "$tmp" "$(debian_mirror)" > "$cache/rootfs/$release.log" 2>&1 \
      || { tail -20 "$cache/rootfs/$release.log" >&2; unavailable "debootstrap $release failed"; }
    mkdir -p "$tmp/shared/testdata" "$tmp/root/.cache/pip" "$tmp/usr/local/lib/edged-arm64"
    touch "$tmp/usr/local/lib/edged-arm64/"{qemu-aarch64-nocrypto,ca.crt} "$tmp/.complete"
    find "$cache/rootfs" -maxdepth 1 -name "$release-*" ! -name "$release-$key*" \
      -exec rm -rf {} +
    mv "$tmp" "$dir"
  fi
  root=$dir
}

# in_root ROOT CMD...: run CMD in ROOT under QEMU_CPU (default cortex-a72), in private mount
# and PID namespaces: every mount and every process left over dies with CMD.
in_root() {
  local root=$1; shift
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mkdir -p "$cache/pip"
  nice -n 10 unshare --mount --pid --fork --kill-child --propagation private bash -c '
    set -e
    r=$1 testdata=$2 pip=$3 nocrypto=$4; shift 4
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount --rbind /sys "$r/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
    mount -t tmpfs -o mode=0755 tmpfs "$r/run"
    mount --bind "$testdata" "$r/shared/testdata"
    mount -o remount,bind,ro "$r/shared/testdata"
    mount --bind "$pip" "$r/root/.cache/pip"
    mount --bind "$nocrypto" "$r/usr/local/lib/edged-arm64/qemu-aarch64-nocrypto"
    mount --bind /etc/ssl/certs/ca-certificates.crt "$r/usr/local/lib/edged-arm64/ca.crt"
    exec chroot "$r" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      QEMU_CPU="${QEMU_CPU:-cortex-a72}" CI="${CI:-}" EDGED_TESTDATA=/shared/testdata \
      PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1 \
      PIP_CERT=/usr/local/lib/edged-arm64/ca.crt "$@"
  ' in_root "$root" "$testdata" "$cache/pip" "$qemu_nocrypto" "$@"
}

# copy_src ROOT: this checkout's files (tracked and untracked, not ignored) to ROOT/src
copy_src() {
  rm -rf "$1/src" && mkdir -p "$1/src"
  (cd "$src" && git ls-files -z --cached --others --exclude-standard \
     | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$1/src"
}
