#!/usr/bin/env bash
# Install edged as a systemd service on Raspberry Pi OS (Bookworm or Trixie). Idempotent: a
# second run changes nothing and never overwrites an edited /etc/edged/config.yaml.
#
#   sudo deploy/install.sh              install or update; fetch the default model (the COCO
#                                       detector, edged models list); enable the service
#   sudo deploy/install.sh --start      ... and start it (restart it if anything changed)
#   --model NAME                        fetch this catalogue model instead, and point a new
#                                       /etc/edged/config.yaml at it
#   --mirror BASE_URL                   fetch the model files from BASE_URL/FILE instead
#   --models DIR                        copy DIR/*.tflite and label files to the models first
#                                       (a file already there and verified is not downloaded)
#   --offline                           download nothing
#   --mqtt / --web                      also install, enable (and with --start start) the MQTT
#                                       bridge (edged-mqtt.service, mqtt: section) or the
#                                       preview page (edged-web.service, web: section)
# The service is enabled and (re)started only if `edged check-config` accepts the config;
# otherwise nothing is started, the fix is printed and the exit code is 3.
#   sudo deploy/install.sh --uninstall  remove the service, venv, udev rule (keeps config,
#                                       models and state; add --purge to remove those and the user)
#   deploy/install.sh --dry-run         print every action, change nothing
#   deploy/install.sh --root DIR        install the files under DIR (for tests); system
#                                       changes (apt, users, systemctl, udev) are skipped
#   --skip-venv                         leave /opt/edged's venv alone (tests)
# Environment: PYTHON (default /usr/bin/python3: apt's picamera2 and systemd-python are built
# for it), SYSTEMD_VERSION (default: systemctl --version; 253+ adds Type=notify-reload),
# EDGED_PYTHON (the Python that runs `-m edged` for fetch and check-config; default the venv's).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-/usr/bin/python3}
root=""
dry_run=0
uninstall=0
purge=0
start=0
skip_venv=0
models_from=""
model=""
mirror=""
offline=0
changed=0
config_ok=unknown   # yes / no / unknown (no edged to check with)
picamera2_skipped=0
companions=()      # edged-mqtt / edged-web, from --mqtt / --web

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --root) root=${2:?--root needs a directory}; shift ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    --start) start=1 ;;
    --skip-venv) skip_venv=1 ;;
    --models) models_from=${2:?--models needs a directory}; shift ;;
    --model) model=${2:?--model needs a name from edged models list}; shift ;;
    --mirror) mirror=${2:?--mirror needs a base URL}; shift ;;
    --offline) offline=1 ;;
    --mqtt) companions+=(edged-mqtt) ;;
    --web) companions+=(edged-web) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$root" ]; then
  mkdir_root=$(cd "$(dirname "$root")" 2>/dev/null && pwd) || {
    echo "install.sh: --root $root: its parent folder does not exist" >&2; exit 2; }
  root="$mkdir_root/$(basename "$root")"
fi

prefix="$root/opt/edged"
etc="$root/etc/edged"
state="$root/var/lib/edged"
unit_dir="$root/etc/systemd/system"
udev_dir="$root/etc/udev/rules.d"
dropin="edged.service.d/10-notify-reload.conf"
edged_py=${EDGED_PYTHON:-$prefix/bin/python}
# written before the first file is installed, removed once udev and systemd have reloaded: a run
# that stopped in between leaves it, and the next run makes the reloads even if nothing changed
pending="$state/.reload-pending"

say() { printf '%s\n' "$*"; }

# run CMD...: print it ("+ CMD"); execute it unless --dry-run
run() {
  say "+ $*"
  [ "$dry_run" -eq 1 ] || "$@"
}

# system CMD...: like run, but only on the real system (not with --root)
system() {
  if [ -n "$root" ]; then say "skip (--root): $*"; else run "$@"; fi
}

# mark_pending: the reloads are owed from now on (before the first change is made)
mark_pending() {
  if [ "$dry_run" -eq 0 ] && [ ! -e "$pending" ]; then
    mkdir -p "$(dirname "$pending")" && : > "$pending"
    say "pending: udev/systemd reloads until they succeed ($pending)"
  fi
}

# install_file SRC DEST MODE: copy when missing or different
install_file() {
  local from=$1 to=$2 mode=$3
  if [ -f "$to" ] && cmp -s "$from" "$to"; then
    say "unchanged: $to"
    return
  fi
  mark_pending
  run install -D -m "$mode" "$from" "$to"
  changed=1
}

# systemd-only steps need systemd as PID 1 (not in a container or chroot): said and skipped
systemd_step() {
  if [ -z "$root" ] && [ "$dry_run" -eq 0 ] && [ ! -d /run/systemd/system ]; then
    say "skip (systemd is not running): $*"
  else
    system "$@"
  fi
}

# reload: udev rules and units, when this run changed files or an earlier one did not finish
reload() {
  if [ "$changed" -eq 0 ] && [ ! -e "$pending" ]; then return 0; fi
  [ "$changed" -eq 1 ] || say "pending: reloads left by an earlier run that stopped before them"
  systemd_step udevadm control --reload-rules
  systemd_step systemctl daemon-reload
  # with --root there is nothing to reload; without systemd the reloads stay owed
  if [ "$dry_run" -eq 0 ] && { [ -n "$root" ] || [ -d /run/systemd/system ]; }; then
    rm -f "$pending"
  fi
}

remove_file() {
  if [ -e "$1" ]; then run rm -f "$1"; changed=1; else say "absent: $1"; fi
}

need_root() {
  if [ -z "$root" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run with sudo (or use --dry-run / --root DIR)" >&2
    exit 1
  fi
}

systemd_version() {
  if [ -n "${SYSTEMD_VERSION:-}" ]; then say "$SYSTEMD_VERSION"; return; fi
  { systemctl --version 2>/dev/null || true; } | awk 'NR==1 {print $2}' | tr -dc '0-9'
}

# apt_has PKG: an apt source offers PKG (python3-picamera2 is only in Raspberry Pi's archive)
apt_has() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {ok = ($2 != "(none)")} END {exit !ok}'
}

install_packages() {
  # python3-venv brings pip into the venv (ensurepip): python3-pip is not needed; gcc and
  # python3-dev let pip build edged's area-resize kernel (edged/_area.c; without them edged
  # falls back to OpenCV's slower INTER_AREA and `edged doctor` warns)
  local pkgs=(python3-venv python3-picamera2 python3-systemd gcc python3-dev)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "unchanged: apt packages ${pkgs[*]}"
    return
  fi
  system apt-get update
  if [[ " ${missing[*]} " == *" python3-picamera2 "* ]] && ! apt_has python3-picamera2; then
    say "WARNING: python3-picamera2 is not in this system's apt sources (it comes from" \
      "Raspberry Pi's archive, which Raspberry Pi OS has): skipped. 'source: picamera2'" \
      "will not work; the opencv, images and synthetic sources do."
    picamera2_skipped=1
    missing=("${missing[@]/python3-picamera2}")
    read -r -a missing <<<"${missing[*]}"
  fi
  [ ${#missing[@]} -eq 0 ] || system apt-get install -y --no-install-recommends "${missing[@]}"
}

create_user() {
  local g
  for g in video render plugdev; do
    if getent group "$g" >/dev/null; then say "unchanged: group $g"
    else system groupadd --system "$g"; fi
  done
  if id edged >/dev/null 2>&1; then
    say "unchanged: user edged"
  else
    system useradd --system --home-dir /var/lib/edged --no-create-home \
      --shell /usr/sbin/nologin --user-group edged
  fi
  local have missing=()
  have=" $(id -nG edged 2>/dev/null || true) "
  for g in video render plugdev; do
    [[ $have == *" $g "* ]] || missing+=("$g")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "unchanged: edged in groups video render plugdev"
  else system usermod -a -G "$(IFS=,; echo "${missing[*]}")" edged; fi
}

# what the venv was built from: the pins and edged's own sources
venv_stamp() {
  (cd "$src" && cat deploy/requirements.txt pyproject.toml setup.py \
     && find edged -type f ! -name '*.pyc' ! -name '*.so' -print0 | LC_ALL=C sort -z | xargs -0 cat) \
    | sha256sum | cut -d' ' -f1
}

install_venv() {
  if [ "$skip_venv" -eq 1 ]; then
    say "skip (--skip-venv): venv $prefix"
    return
  fi
  local stamp
  stamp=$(venv_stamp)
  if [ -x "$prefix/bin/edged" ] && [ "$(cat "$prefix/.edged-install" 2>/dev/null)" = "$stamp" ]; then
    say "unchanged: venv $prefix (same pins, same edged sources)"
    return
  fi
  [ -x "$prefix/bin/python" ] || run "$python" -m venv --system-site-packages "$prefix"
  run "$prefix/bin/pip" install --quiet --no-deps --only-binary=:all: \
    --requirement "$src/deploy/requirements.txt"
  run "$prefix/bin/pip" install --quiet --no-deps --no-cache-dir "$src"
  if [ "$dry_run" -eq 0 ]; then printf '%s\n' "$stamp" > "$prefix/.edged-install"; fi
  say "+ write $prefix/.edged-install"
  changed=1
  # picamera2 comes from apt and must import next to the venv's numpy (see requirements.txt)
  if [ "$dry_run" -eq 0 ] && [ "$picamera2_skipped" -eq 0 ] \
     && ! "$prefix/bin/python" -c 'from picamera2 import Picamera2' 2>/dev/null; then
    say "WARNING: 'from picamera2 import Picamera2' fails in $prefix; run:"
    say "  $prefix/bin/python -c 'from picamera2 import Picamera2'   and   $prefix/bin/edged doctor"
  fi
}

install_files() {
  install_file "$src/systemd/edged.service" "$unit_dir/edged.service" 0644
  local v
  v=$(systemd_version)
  if [ -n "$v" ] && [ "$v" -ge 253 ]; then
    # the manager sends SIGHUP itself and waits for RELOADING=1 / READY=1
    install_file "$src/systemd/$dropin" "$unit_dir/$dropin" 0644
  elif [ -e "$unit_dir/$dropin" ]; then
    remove_file "$unit_dir/$dropin"
  fi
  install_file "$src/deploy/99-edgetpu.rules" "$udev_dir/99-edgetpu.rules" 0644
  local c
  for c in "${companions[@]}"; do
    install_file "$src/systemd/$c.service" "$unit_dir/$c.service" 0644
  done
  install_file "$src/README.md" "$prefix/share/README.md" 0644
  install_file "$src/config.example.yaml" "$etc/config.example.yaml" 0644
  if [ -d "$state/models" ]; then say "unchanged: $state/models"
  else run install -d -m 0750 "$state/models"; fi
  install_file "$src/edged/demo/shapes_int8.tflite" "$state/models/shapes_int8.tflite" 0644
  install_file "$src/edged/demo/shapes_labels.txt" "$state/models/shapes_labels.txt" 0644
  if [ -n "$models_from" ]; then
    local f
    for f in "$models_from"/*.tflite "$models_from"/*.txt; do
      if [ -e "$f" ]; then install_file "$f" "$state/models/$(basename "$f")" 0644; fi
    done
  fi
}

have_edged() { [ -x "$edged_py" ] && "$edged_py" -c 'import edged' 2>/dev/null; }

edged() { "$edged_py" -m edged "$@"; }

# fetch the chosen catalogue model (and its labels) into the models folder, verified
install_model() {
  local fetch=(models fetch)
  [ -z "$model" ] || fetch+=("$model")
  fetch+=(--dir "$state/models")
  [ -z "$mirror" ] || fetch+=(--mirror "$mirror")
  if [ "$offline" -eq 1 ]; then say "skip (--offline): edged ${fetch[*]}"; return; fi
  if [ "$dry_run" -eq 1 ]; then say "+ edged ${fetch[*]}"; return; fi
  if ! have_edged; then say "skip (no edged in $edged_py): edged ${fetch[*]}"; return; fi
  if edged "${fetch[@]}" --check; then
    say "unchanged: model ${model:-(default)} in $state/models (verified)"
    return
  fi
  say "+ edged ${fetch[*]}"
  if edged "${fetch[@]}" >/dev/null; then changed=1
  else say "WARNING: the model could not be fetched (above)"; fi
}

# a new config: the example, pointed at the chosen model (and inside --root, at the root's files)
install_config() {
  if [ -e "$etc/config.yaml" ]; then
    say "kept: $etc/config.yaml (never overwritten; the new example is $etc/config.example.yaml)"
    return
  fi
  local edits=(-e "s|/var/lib/edged/models/|$state/models/|g") file labels tmp
  if [ -n "$model" ] && [ "$dry_run" -eq 0 ]; then
    have_edged || { echo "install.sh: --model needs edged (in $edged_py)" >&2; exit 2; }
    read -r file labels < <(edged models list --json | "$edged_py" -c '
import json, sys
e = {x["name"]: x for x in json.load(sys.stdin)}.get(sys.argv[1])
print(e["file"], e["labels"] or "-") if e else sys.exit("install.sh: unknown model " + sys.argv[1])
' "$model")
    edits+=(-e "s|^\(  path: \).*|\1$state/models/$file|")
    if [ "$labels" = "-" ]; then edits+=(-e "s|^  labels: .*|  # labels: none for $model|")
    else edits+=(-e "s|^\(  labels: \).*|\1$state/models/$labels|"); fi
  fi
  tmp=$(mktemp)
  sed "${edits[@]}" "$src/config.example.yaml" > "$tmp"
  run install -D -m 0644 "$tmp" "$etc/config.yaml"
  rm -f "$tmp"
  changed=1
}

# the gate before any (re)start: what the service would refuse with exit 78
check_config() {
  if [ "$dry_run" -eq 1 ]; then
    say "check: edged check-config $etc/config.yaml"; config_ok=yes; return
  fi
  if ! have_edged; then
    say "skip (no edged in $edged_py): edged check-config $etc/config.yaml"; return
  fi
  say "check: edged check-config $etc/config.yaml"
  if edged check-config "$etc/config.yaml" >/dev/null; then config_ok=yes; else config_ok=no; fi
}

own_state() {
  if [ -n "$root" ]; then
    say "skip (--root): chown -R edged:edged /var/lib/edged"
  elif [ -n "$(find /var/lib/edged \( ! -user edged -o ! -group edged \) -print -quit 2>/dev/null)" ] \
       || [ "$dry_run" -eq 1 ]; then
    run chown -R edged:edged /var/lib/edged
  else
    say "unchanged: /var/lib/edged owned by edged"
  fi
}

activate() {
  reload
  if [ "$config_ok" != yes ]; then
    not_started
    return 0
  fi
  if [ -z "$root" ] && systemctl is-enabled --quiet edged.service 2>/dev/null; then
    say "unchanged: edged.service enabled"
  else
    systemd_step systemctl enable edged.service
  fi
  local c
  for c in "${companions[@]}"; do systemd_step systemctl enable "$c.service"; done
  [ "$start" -eq 1 ] || return 0
  if [ -z "$root" ] && [ "$changed" -eq 0 ] && systemctl is-active --quiet edged.service; then
    say "unchanged: edged.service running"
  else
    systemd_step systemctl restart edged.service
  fi
  for c in "${companions[@]}"; do systemd_step systemctl restart "$c.service"; done
}

not_started() {
  local cmd="edged models fetch${model:+ $model} --dir /var/lib/edged/models"
  if [ "$config_ok" = unknown ]; then
    say "not enabled or started: the config was not checked (no edged in $edged_py)"
    return
  fi
  say "NOT enabled or started: $etc/config.yaml does not pass edged check-config (above)."
  say "Nothing was started, so there is no restart loop. To fix, then run this script again:"
  say "  - a model is missing: sudo /opt/edged/bin/$cmd   (or: deploy/install.sh --models DIR)"
  say "  - or edit it: sudoedit /etc/edged/config.yaml && /opt/edged/bin/edged check-config /etc/edged/config.yaml"
}

do_uninstall() {
  if [ -z "$root" ] && ! systemctl cat edged.service >/dev/null 2>&1; then
    say "absent: edged.service"
  else
    system systemctl disable --now edged.service
  fi
  local c
  for c in edged-mqtt edged-web; do
    if [ -e "$unit_dir/$c.service" ]; then
      system systemctl disable --now "$c.service"
      remove_file "$unit_dir/$c.service"
    fi
  done
  remove_file "$unit_dir/$dropin"
  [ -d "$unit_dir/edged.service.d" ] && run rmdir --ignore-fail-on-non-empty "$unit_dir/edged.service.d"
  remove_file "$unit_dir/edged.service"
  remove_file "$udev_dir/99-edgetpu.rules"
  if [ -d "$prefix" ]; then run rm -rf "$prefix"; else say "absent: $prefix"; fi
  if [ "$purge" -eq 1 ]; then
    local d
    for d in "$etc" "$state"; do
      if [ -d "$d" ]; then run rm -rf "$d"; else say "absent: $d"; fi
    done
    if id edged >/dev/null 2>&1; then system userdel edged; else say "absent: user edged"; fi
  else
    say "kept: $etc and $state (use --purge to remove them)"
  fi
  if [ "$changed" -eq 1 ]; then
    system udevadm control --reload-rules
    system systemctl daemon-reload
  fi
}

need_root
if [ "$uninstall" -eq 1 ]; then
  do_uninstall
  say "uninstalled."
  exit 0
fi
if [ -n "$root" ]; then say "skip (--root): apt packages"; else install_packages; fi
create_user
install_venv
install_files
install_model
install_config
own_state
check_config
activate
if [ "$config_ok" = no ]; then exit 3; fi
say "done. Check:  systemctl status edged   journalctl -u edged -f   $prefix/bin/edged doctor"
