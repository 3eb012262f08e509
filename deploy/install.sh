#!/usr/bin/env bash
# Install edged as a systemd service on Raspberry Pi OS (Bookworm or Trixie). Idempotent.
#
#   sudo deploy/install.sh              install or update, enable the service
#   sudo deploy/install.sh --start      ... and (re)start it
#   sudo deploy/install.sh --uninstall  remove the service, venv, udev rule (keeps config,
#                                       models and state; add --purge to remove those too)
#   deploy/install.sh --dry-run         print every action, change nothing
#   deploy/install.sh --root DIR        install the files under DIR (for tests); system
#                                       changes (apt, users, systemctl, udev) are skipped
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=""
dry_run=0
uninstall=0
purge=0
start=0
skip_venv=0
models_from=""

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --root) root=${2:?--root needs a directory}; shift ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    --start) start=1 ;;
    --skip-venv) skip_venv=1 ;;
    --models) models_from=${2:?--models needs a directory}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

prefix="$root/opt/edged"
etc="$root/etc/edged"
state="$root/var/lib/edged"
unit_dir="$root/etc/systemd/system"
udev_dir="$root/etc/udev/rules.d"

say() { printf '%s\n' "$*"; }

# run CMD...: print it; execute it unless --dry-run
run() {
  say "+ $*"
  [ "$dry_run" -eq 1 ] || "$@"
}

# system CMD...: like run, but only on the real system (not with --root)
system() {
  if [ -n "$root" ]; then say "skip (--root): $*"; else run "$@"; fi
}

# install_file SRC DEST MODE: copy when missing or different; say what happened
install_file() {
  local from=$1 to=$2 mode=$3
  if [ -f "$to" ] && cmp -s "$from" "$to"; then
    say "unchanged: $to"
    return
  fi
  run install -D -m "$mode" "$from" "$to"
}

need_root() {
  if [ -z "$root" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run with sudo (or use --dry-run / --root DIR)" >&2
    exit 1
  fi
}

systemd_version() {
  systemctl --version 2>/dev/null | awk 'NR==1 {print $2}' | tr -dc '0-9'
}

install_packages() {
  local pkgs=(python3-venv python3-pip python3-picamera2 python3-systemd)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "unchanged: apt packages ${pkgs[*]}"
  else
    system apt-get update
    system apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

create_user() {
  for g in video render plugdev; do
    getent group "$g" >/dev/null || system groupadd --system "$g"
  done
  if id edged >/dev/null 2>&1; then
    say "unchanged: user edged"
  else
    system useradd --system --home-dir /var/lib/edged --no-create-home \
      --shell /usr/sbin/nologin --user-group edged
  fi
  system usermod -a -G video,render,plugdev edged
}

install_venv() {
  if [ "$skip_venv" -eq 1 ]; then
    say "skip (--skip-venv): venv $prefix"
    return
  fi
  [ -x "$prefix/bin/python" ] || run python3 -m venv --system-site-packages "$prefix"
  run "$prefix/bin/pip" install --quiet --requirement "$src/deploy/requirements.txt"
  run "$prefix/bin/pip" install --quiet --no-deps "$src"
}

install_files() {
  install_file "$src/systemd/edged.service" "$unit_dir/edged.service" 0644
  local v
  v=$(systemd_version)
  if [ -n "$v" ] && [ "$v" -ge 253 ]; then
    # systemd 253+: the manager sends SIGHUP itself and waits for RELOADING=1 / READY=1
    local dropin
    dropin=$(mktemp)
    printf '[Service]\nType=notify-reload\nExecReload=\n' > "$dropin"
    install_file "$dropin" "$unit_dir/edged.service.d/10-notify-reload.conf" 0644
    rm -f "$dropin"
  fi
  install_file "$src/deploy/99-edgetpu.rules" "$udev_dir/99-edgetpu.rules" 0644
  install_file "$src/README.md" "$prefix/share/README.md" 0644
  if [ -e "$etc/config.yaml" ]; then
    say "kept: $etc/config.yaml (never overwritten; the new example is $etc/config.example.yaml)"
  else
    run install -D -m 0644 "$src/config.example.yaml" "$etc/config.yaml"
  fi
  install_file "$src/config.example.yaml" "$etc/config.example.yaml" 0644
  [ -d "$state/models" ] || run install -d -m 0750 "$state/models"
  install_file "$src/edged/demo/shapes_int8.tflite" "$state/models/shapes_int8.tflite" 0644
  install_file "$src/edged/demo/shapes_labels.txt" "$state/models/shapes_labels.txt" 0644
  if [ -n "$models_from" ]; then
    for f in "$models_from"/*.tflite "$models_from"/*.txt; do
      [ -e "$f" ] && install_file "$f" "$state/models/$(basename "$f")" 0644
    done
  fi
  system chown -R edged:edged /var/lib/edged
}

activate() {
  system udevadm control --reload-rules
  system systemctl daemon-reload
  system systemctl enable edged.service
  if [ "$start" -eq 1 ]; then
    system systemctl restart edged.service
  fi
}

do_uninstall() {
  system systemctl disable --now edged.service
  for f in "$unit_dir/edged.service" "$unit_dir/edged.service.d/10-notify-reload.conf" \
           "$udev_dir/99-edgetpu.rules"; do
    if [ -e "$f" ]; then run rm -f "$f"; else say "absent: $f"; fi
  done
  [ -d "$prefix" ] && run rm -rf "$prefix"
  if [ "$purge" -eq 1 ]; then
    for d in "$etc" "$state"; do [ -d "$d" ] && run rm -rf "$d"; done
    id edged >/dev/null 2>&1 && system userdel edged
  else
    say "kept: $etc and $state (use --purge to remove them)"
  fi
  system systemctl daemon-reload
}

need_root
if [ "$uninstall" -eq 1 ]; then
  do_uninstall
  exit 0
fi
if [ -n "$root" ]; then say "skip (--root): apt packages"; else install_packages; fi
create_user
install_venv
install_files
activate
say "done. Check:  systemctl status edged   journalctl -u edged -f   edged doctor"
