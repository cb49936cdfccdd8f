#!/bin/bash
# Install or upgrade msisdn-gateway on Debian or Raspberry Pi OS (Python 3.11 or later).
#
#   sudo systemd/install.sh             from a checkout of the source
#
# It lays out, in this order, leaving alone what is already there:
#   - the system user msisdn-gateway (its own group, and dialout for the modems' ports);
#   - a virtual environment at /opt/msisdn-gateway with the gateway pip-installed from
#     the source (re-installed at each run: that is the upgrade), and the command
#     /usr/local/bin/msisdn-gateway;
#   - /etc/msisdn-gateway/config.toml from systemd/config.example.toml, only if absent;
#   - the signing key and server secret under /var/lib/msisdn-gateway/keys, only if
#     absent (owned by the service user, mode 0600);
#   - the udev rules (/etc/udev/rules.d/99-msisdn-gateway.rules), reloaded and triggered;
#   - the unit /etc/systemd/system/msisdn-gateway.service, enabled and started, or
#     restarted when it was running (database migrations run at every start).
# Running it again is safe: it upgrades the code and keeps configuration, keys and data.
#
# Options:
#   --root DIR     lay the files out under DIR instead of / (or set DESTDIR=DIR): no
#                  user, ownership, udevadm or systemctl; for tests and image builds
#                  (the venv's scripts then point into DIR)
#   --source DIR   the source tree to install (default: the checkout holding this script)
#   --python PATH  the Python that creates the venv (default: python3)
#   --no-start     install and enable the unit without starting or restarting it
set -euo pipefail

NAME=msisdn-gateway
SERVICE_USER=msisdn-gateway
VENV=/opt/msisdn-gateway
CONFIG_DIR=/etc/msisdn-gateway
STATE_DIR=/var/lib/msisdn-gateway
UNIT_DIR=/etc/systemd/system
UDEV_DIR=/etc/udev/rules.d
BIN_LINK=/usr/local/bin/msisdn-gateway

ROOT=${DESTDIR:-}
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=python3
START=1

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#*=}; shift ;;
        --source) [ $# -ge 2 ] || die "--source needs a directory"; SOURCE=$2; shift 2 ;;
        --source=*) SOURCE=${1#*=}; shift ;;
        --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#*=}; shift ;;
        --no-start) START=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option: $1 (see $0 --help)" ;;
    esac
done

if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [ "$ROOT" != / ] || ROOT=
fi
staged() { [ -n "$ROOT" ]; }
# Commands that change the running system (users, ownership, udev, systemd): skipped
# when the files are laid out under --root.
system() {
    if staged; then note "(--root: not run: $*)"; else "$@"; fi
}

staged || [ "$(id -u)" -eq 0 ] || die "run it as root (sudo $0), or with --root DIR to lay the files out elsewhere"
if [ ! -f "$SOURCE/setup.py" ] || [ ! -f "$SOURCE/systemd/$NAME.service" ]; then
    die "$SOURCE is not the msisdn-gateway source tree (use --source DIR)"
fi
SOURCE=$(cd "$SOURCE" && pwd)
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: apt-get install python3 python3-venv"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "msisdn-gateway needs Python 3.11 or later; $PYTHON is $("$PYTHON" -V 2>&1)"
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if ! staged && command -v apt-get >/dev/null; then
        say "installing python3-venv (apt-get)"
        apt-get install -y python3-venv
    else
        die "$PYTHON cannot create virtual environments: apt-get install python3-venv"
    fi
fi

say "system user $SERVICE_USER (groups $SERVICE_USER, dialout)"
if staged; then
    note "(--root: no user created)"
elif getent passwd "$SERVICE_USER" >/dev/null; then
    usermod --append --groups dialout "$SERVICE_USER"
    note "exists"
else
    useradd --system --user-group --groups dialout --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "msisdn-gateway service" "$SERVICE_USER"
    note "created"
fi

say "Python environment $VENV, gateway installed from $SOURCE"
if ! "$ROOT$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    "$PYTHON" -m venv --clear "$ROOT$VENV"   # absent, or its Python was upgraded away
fi
# pip re-installs a source directory at every run, and adds any new dependency.
"$ROOT$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SOURCE"
mkdir -p "$ROOT$(dirname "$BIN_LINK")"
ln -sfn "$VENV/bin/msisdn-gateway" "$ROOT$BIN_LINK"
note "$("$ROOT$VENV/bin/msisdn-gateway" --version)"

say "configuration $CONFIG_DIR/config.toml"
install -d -m 0750 "$ROOT$CONFIG_DIR"
system chgrp "$SERVICE_USER" "$ROOT$CONFIG_DIR"
install -m 0644 "$SOURCE/systemd/config.example.toml" "$ROOT$CONFIG_DIR/config.example.toml"
if [ -e "$ROOT$CONFIG_DIR/config.toml" ]; then
    note "kept as it is (the current example: $CONFIG_DIR/config.example.toml)"
else
    install -m 0640 "$SOURCE/systemd/config.example.toml" "$ROOT$CONFIG_DIR/config.toml"
    system chgrp "$SERVICE_USER" "$ROOT$CONFIG_DIR/config.toml"
    note "written from the example: set public_url and the [[modems]] there"
fi

say "keys in $STATE_DIR/keys"
install -d -m 0700 "$ROOT$STATE_DIR"
system chown "$SERVICE_USER:$SERVICE_USER" "$ROOT$STATE_DIR"
KEYS=$ROOT$STATE_DIR/keys
# The state directory belongs to the service user: root follows no link it may have put
# there (chmod would change the mode of the link's target, anywhere on the system), and
# the keys are written and their modes set as that user.
for path in "$KEYS" "$KEYS/signing-key.pem" "$KEYS/secret.hex"; do
    [ ! -L "$path" ] || die "$path is a symbolic link: remove it (keys are never written through one), then run this again"
done
as_service() {
    if staged; then "$@"; else runuser -u "$SERVICE_USER" -- "$@"; fi
}
if [ -d "$KEYS" ]; then  # keys an older version of this script made as root
    system chown -R "$SERVICE_USER:$SERVICE_USER" "$KEYS"  # -R follows no link
fi
if [ -e "$KEYS/signing-key.pem" ] && [ -e "$KEYS/secret.hex" ]; then
    note "kept as they are"
elif [ -e "$KEYS/signing-key.pem" ] || [ -e "$KEYS/secret.hex" ]; then
    die "only one of $STATE_DIR/keys/signing-key.pem and secret.hex exists: restore the other, or replace both with: $NAME keys generate --force --state-dir $STATE_DIR"
else
    as_service "$ROOT$VENV/bin/msisdn-gateway" keys generate --state-dir "$ROOT$STATE_DIR" | sed 's/^/    /'
fi
as_service chmod 0700 "$KEYS"
as_service chmod 0600 "$KEYS/signing-key.pem" "$KEYS/secret.hex"

say "udev rules $UDEV_DIR/99-msisdn-gateway.rules"
RULES=$SOURCE/udev/99-msisdn-gateway.rules
if [ -f "$RULES" ]; then
    install -D -m 0644 "$RULES" "$ROOT$UDEV_DIR/99-msisdn-gateway.rules"
    if staged; then
        note "(--root: udev not reloaded)"
    elif udevadm control --reload && udevadm trigger --action=change && udevadm settle --timeout=30; then
        note "reloaded; modems plugged in now have their /dev/gsm-modem-* names"
    else
        warn "udev could not apply the rules now (is it running?): replug the modems or reboot"
    fi
else
    warn "no udev rules in $SOURCE/udev: configure the modems by their /dev/ttyUSB* paths"
fi

say "systemd unit $UNIT_DIR/$NAME.service"
install -D -m 0644 "$SOURCE/systemd/$NAME.service" "$ROOT$UNIT_DIR/$NAME.service"
if staged; then
    note "(--root: not enabled or started)"
elif [ ! -d /run/systemd/system ]; then
    warn "systemd is not running here: enable and start $NAME.service yourself"
else
    systemctl daemon-reload
    systemctl enable --quiet "$NAME"
    if [ "$START" -eq 0 ]; then
        note "enabled, not started (--no-start): systemctl restart $NAME"
    elif systemctl is-active --quiet "$NAME"; then
        systemctl restart "$NAME"
        note "restarted with the new version (migrations ran at start)"
    else
        systemctl enable --now --quiet "$NAME"
        note "enabled and started"
    fi
fi

say "done"
cat <<EOF
    Next: edit $CONFIG_DIR/config.toml (public_url, [[modems]]), then
      systemctl restart $NAME && journalctl -u $NAME -f
      sudo -u $SERVICE_USER $NAME --config $CONFIG_DIR/config.toml modems
    (run the administration commands as $SERVICE_USER: files root creates in
    $STATE_DIR would lock the service out of its database.)
EOF
