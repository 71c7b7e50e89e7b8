#!/bin/sh
# SPDX-License-Identifier: MIT
# Starts (or stops) a private dbus-daemon plus the fake systemd of systemd_mock.py, so tests can
# run the agent against "systemd" without root and without a real systemd.
#
#   start-mock.sh DIR [UNIT_SPEC...]   start bus + mock; DIR must exist (e.g. from mktemp -d).
#       Writes DIR/bus-address (one line, e.g. unix:path=DIR/system_bus_socket; export it as
#       DBUS_SYSTEM_BUS_ADDRESS), DIR/pids ("dbus <pid>" and "mock <pid>" lines),
#       DIR/bus.conf and the logs DIR/dbus.log, DIR/mock.log. Returns once the mock answers
#       (at most ~10 s), 1 on failure (after cleaning up). If a bus for DIR is still running,
#       only the mock is (re)started; the socket path, hence the address, is the same for the
#       same DIR, so stop+start imitates a D-Bus restart.
#       UNIT_SPEC = name:active:sub:unit_file_state[:load_state[:description]] adds units
#       (LANMON_MOCK_UNITS="spec;spec" does too, and LANMON_MOCK_NO_DEFAULTS=1 drops the
#       default nginx/docker/cron/myapp/backup/ssh units; LANMON_MOCK_LEGACY=1 imitates an old
#       systemd without LoadUnit and without the UnitFileState unit property).
#       LANMON_MOCK_WATCH_PID=PID also starts a watcher that stops mock and bus once PID has
#       exited (checked every second), so a crashed test leaves no daemons behind.
#   start-mock.sh --stop DIR           stop mock and bus (idempotent; waits up to ~5 s each).
#   start-mock.sh --stop-mock DIR      stop only the mock: the bus stays up but
#                                      org.freedesktop.systemd1 has no owner.
#
# Change a unit at run time with set-unit-state.sh DIR UNIT ACTIVE SUB.
set -u

here=$(cd "$(dirname "$0")" && pwd)
python=${LANMON_PYTHON:-/usr/bin/python3}

die() {
    echo "start-mock.sh: $*" >&2
    exit 1
}

pid_of() { # pid_of DIR NAME
    [ -f "$1/pids" ] || return 1
    sed -n "s/^$2 \\([0-9][0-9]*\\)\$/\\1/p" "$1/pids" | head -n 1
}

alive() { # a zombie counts as gone: PID 1 of a container may be slow to reap it
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}

stop_one() { # stop_one DIR NAME: TERM, wait up to 5 s, then KILL
    pid=$(pid_of "$1" "$2") || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        i=0
        while alive "$pid" && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    if [ -f "$1/pids" ]; then
        grep -v "^$2 " "$1/pids" >"$1/pids.tmp"
        mv "$1/pids.tmp" "$1/pids"
    fi
    return 0
}

ping_bus() {
    [ -S "${1#unix:path=}" ] &&
        dbus-send --bus="$1" --print-reply=literal --reply-timeout=1000 \
            --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.GetId >/dev/null 2>&1
}

ping_mock() { # answers once the template is loaded and the main loop runs
    dbus-send --bus="$1" --print-reply=literal --reply-timeout=1000 \
        --dest=org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager.ListUnits >/dev/null 2>&1
}

case "${1:-}" in
--stop)
    [ $# -eq 2 ] || die "usage: $0 --stop DIR"
    stop_one "$2" watch
    stop_one "$2" mock
    stop_one "$2" dbus
    rm -f "$2/system_bus_socket"
    exit 0
    ;;
--stop-mock)
    [ $# -eq 2 ] || die "usage: $0 --stop-mock DIR"
    stop_one "$2" mock
    exit 0
    ;;
"" | -*)
    die "usage: $0 DIR [UNIT_SPEC...] | --stop DIR | --stop-mock DIR"
    ;;
esac

dir=$(cd "$1" 2>/dev/null && pwd) || die "no such directory: $1"
shift
socket="$dir/system_bus_socket"
address="unix:path=$socket"
[ ${#socket} -lt 100 ] || die "socket path too long for AF_UNIX: $socket"
touch "$dir/pids"

if ! alive "$(pid_of "$dir" dbus)"; then
    stop_one "$dir" dbus
    rm -f "$socket"
    cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$address</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
    dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile \
        </dev/null >"$dir/dbus.log" 2>&1 &
    echo "dbus $!" >>"$dir/pids"
    i=0
    until ping_bus "$address"; do
        i=$((i + 1))
        if [ $i -ge 100 ] || ! alive "$(pid_of "$dir" dbus)"; then
            "$here/start-mock.sh" --stop "$dir"
            die "dbus-daemon did not start; see $dir/dbus.log"
        fi
        sleep 0.05
    done
fi
echo "$address" >"$dir/bus-address"

if [ -n "${LANMON_MOCK_WATCH_PID:-}" ] && ! alive "$(pid_of "$dir" watch)"; then
    stop_one "$dir" watch
    (
        while alive "$LANMON_MOCK_WATCH_PID"; do sleep 1; done
        sed -i '/^watch /d' "$dir/pids" 2>/dev/null
        exec "$here/start-mock.sh" --stop "$dir"
    ) </dev/null >/dev/null 2>&1 &
    echo "watch $!" >>"$dir/pids"
fi

stop_one "$dir" mock
params=$("$python" -c 'import json, os, sys
print(json.dumps({"units": sys.argv[1:],
                  "no_defaults": os.environ.get("LANMON_MOCK_NO_DEFAULTS") == "1",
                  "legacy": os.environ.get("LANMON_MOCK_LEGACY") == "1"}))' "$@") ||
    die "cannot build mock parameters"
DBUS_SYSTEM_BUS_ADDRESS="$address" "$python" -m dbusmock --system \
    -t "$here/systemd_mock.py" -p "$params" </dev/null >"$dir/mock.log" 2>&1 &
echo "mock $!" >>"$dir/pids"

deadline=$(($(date +%s) + 10))
while [ "$(date +%s)" -le $deadline ]; do
    ping_mock "$address" && exit 0
    alive "$(pid_of "$dir" mock)" || break
    sleep 0.1
done
"$here/start-mock.sh" --stop "$dir"
die "the systemd mock did not come up; see $dir/mock.log"
