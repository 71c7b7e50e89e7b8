#!/bin/sh
# Installs monitor-agent on a systemd Linux host without dpkg (idempotent): the binary to
# /usr/local/bin, the unit to /etc/systemd/system (ExecStart adjusted), the default config to
# /etc/monitor-agent/config.yaml (never overwritten), the monitor-agent system user, a random
# token in /etc/monitor-agent/token and a TLS key and certificate in /etc/monitor-agent/tls (both
# never overwritten; the key's pin is printed), then enables and starts the unit.
#
#   install.sh [--binary PATH] [--root DIR]      install or update (default: the monitor-agent
#                                                next to this script, else ./monitor-agent)
#   install.sh --uninstall [--purge] [--root DIR] remove binary and unit (--purge: also config+token)
#
# --root DIR installs into the tree DIR instead of / (for tests and image builds): the user is
# created with `useradd --root DIR` only when DIR/etc/passwd exists, and nothing is started.
# Needs monitor-agent.service and config.yaml next to it (the .tar.gz has all of them in one
# directory; in the source tree they are in deploy/agent/).
set -e

HERE="$(cd "$(dirname "$0")" && pwd)"
BINARY=./monitor-agent
[ -f "$HERE/monitor-agent" ] && BINARY="$HERE/monitor-agent"
ROOT=""
MODE=install
PURGE=no
USER_NAME=monitor-agent

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit "$1"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --binary) [ $# -ge 2 ] || usage 2; BINARY="$2"; shift 2 ;;
    --binary=*) BINARY="${1#--binary=}"; shift ;;
    --root) [ $# -ge 2 ] || usage 2; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=yes; shift ;;
    -h | --help) usage 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
done
if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || { echo "install.sh: $ROOT is not a directory" >&2; exit 2; }
    ROOT="$(cd "$ROOT" && pwd)"
fi

BIN_DST="$ROOT/usr/local/bin/monitor-agent"
UNIT_DST="$ROOT/etc/systemd/system/monitor-agent.service"
ETC="$ROOT/etc/monitor-agent"
CONFIG="$ETC/config.yaml"
TOKEN="$ETC/token"

systemd_live() {
    [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

create_user() {
    if [ -n "$ROOT" ]; then
        if [ -f "$ROOT/etc/passwd" ] && ! grep -q "^$USER_NAME:" "$ROOT/etc/passwd"; then
            useradd --root "$ROOT" --system --user-group --no-create-home \
                --home-dir /nonexistent --shell /usr/sbin/nologin "$USER_NAME"
        elif [ ! -f "$ROOT/etc/passwd" ]; then
            echo "install.sh: no $ROOT/etc/passwd, not creating user $USER_NAME"
        fi
        return 0
    fi
    if ! getent passwd "$USER_NAME" >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$USER_NAME"
    fi
}

agent_gid() {
    if [ -f "$ROOT/etc/group" ]; then
        awk -F: -v n="$USER_NAME" '$1 == n { print $3 }' "$ROOT/etc/group"
    fi
}

make_token() {
    if [ -s "$TOKEN" ]; then
        echo "install.sh: keeping the existing token in $TOKEN"
        return 0
    fi
    (
        umask 077
        head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$TOKEN.tmp"
        printf '\n' >> "$TOKEN.tmp"
    )
    chmod 0640 "$TOKEN.tmp"
    gid="$(agent_gid)"
    if [ -n "$gid" ]; then
        chown "0:$gid" "$TOKEN.tmp"
    else
        echo "install.sh: group $USER_NAME not found; $TOKEN stays root-only" >&2
    fi
    mv "$TOKEN.tmp" "$TOKEN"
    echo "install.sh: generated a token in $TOKEN:"
    echo "  $(cat "$TOKEN")"
}

make_cert() {
    tls_dir="$ETC/tls"
    if [ -s "$tls_dir/agent.key" ] && [ -s "$tls_dir/agent.crt" ]; then
        echo "install.sh: keeping the existing TLS key in $tls_dir"
    else
        install -d -m 0750 "$tls_dir"
        rm -f "$tls_dir/agent.key" "$tls_dir/agent.crt"
        if ! "$BIN_DST" --gen-cert --cert "$tls_dir/agent.crt" --key "$tls_dir/agent.key" >/dev/null; then
            echo "install.sh: could not make the TLS key; make it with:" >&2
            echo "  monitor-agent --gen-cert --cert $tls_dir/agent.crt --key $tls_dir/agent.key" >&2
            return 0
        fi
        gid="$(agent_gid)"
        if [ -n "$gid" ]; then
            chown "0:$gid" "$tls_dir" "$tls_dir/agent.key"
            chmod 0640 "$tls_dir/agent.key"
        fi
        echo "install.sh: made a TLS key and certificate in $tls_dir"
    fi
    echo "install.sh: the agent's TLS key pin (paste it as the server's pin in the aggregator, or"
    echo "  let the first poll pin it):"
    echo "  $("$BIN_DST" --print-pin --cert "$tls_dir/agent.crt")"
}

set_node_id() {
    if grep -q '^node_id: "CHANGE_ME"' "$CONFIG"; then
        host="$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo localhost)"
        host="$(printf '%s' "$host" | tr -cd 'A-Za-z0-9._-' | cut -c1-64)"
        [ -n "$host" ] || host=localhost
        sed -i "s/^node_id: \"CHANGE_ME\"/node_id: \"$host\"/" "$CONFIG"
    fi
}

listen_port() {
    port="$(sed -n 's/^listen:[[:space:]]*"\{0,1\}[^"]*:\([0-9][0-9]*\)"\{0,1\}.*/\1/p' "$CONFIG" | head -n 1)"
    echo "${port:-9109}"
}

do_install() {
    if [ ! -f "$BINARY" ] || [ ! -x "$BINARY" ]; then
        echo "install.sh: $BINARY is not an executable file (use --binary PATH)" >&2
        exit 2
    fi
    for f in monitor-agent.service config.yaml; do
        [ -f "$HERE/$f" ] || { echo "install.sh: $HERE/$f is missing" >&2; exit 2; }
    done
    create_user
    install -d -m 0755 "$ROOT/usr/local/bin" "$ROOT/etc/systemd/system" "$ETC"
    install -m 0755 "$BINARY" "$BIN_DST.new"
    mv -f "$BIN_DST.new" "$BIN_DST"
    sed 's|^ExecStart=/usr/bin/monitor-agent|ExecStart=/usr/local/bin/monitor-agent|' \
        "$HERE/monitor-agent.service" > "$UNIT_DST.new"
    chmod 0644 "$UNIT_DST.new"
    mv -f "$UNIT_DST.new" "$UNIT_DST"
    if [ -e "$CONFIG" ]; then
        echo "install.sh: keeping the existing $CONFIG"
    else
        install -m 0644 "$HERE/config.yaml" "$CONFIG"
    fi
    make_token
    make_cert
    set_node_id
    if systemd_live; then
        systemctl daemon-reload
        systemctl enable monitor-agent.service
        systemctl restart monitor-agent.service
    fi
    port="$(listen_port)"
    echo "install.sh: allow only the aggregator (e.g. 10.0.0.10) to reach port $port:"
    echo "  sudo ufw allow from 10.0.0.10 to any port $port proto tcp"
    echo "  sudo firewall-cmd --permanent --add-rich-rule='rule family=ipv4 source address=10.0.0.10 port port=$port protocol=tcp accept'"
    echo "  sudo firewall-cmd --reload"
}

do_uninstall() {
    if systemd_live; then
        systemctl disable --now monitor-agent.service || true
    fi
    rm -f "$BIN_DST" "$UNIT_DST"
    if systemd_live; then
        systemctl daemon-reload
    fi
    if [ "$PURGE" = yes ]; then
        rm -rf "$ETC"
        echo "install.sh: removed monitor-agent, its unit, $ETC (user $USER_NAME kept)"
    else
        echo "install.sh: removed monitor-agent and its unit; kept $ETC (--purge removes it)"
    fi
}

if [ "$MODE" = install ]; then do_install; else do_uninstall; fi
