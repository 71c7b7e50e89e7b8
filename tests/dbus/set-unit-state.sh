#!/bin/sh
# SPDX-License-Identifier: MIT
# Changes a unit's ActiveState/SubState in the systemd mock started by start-mock.sh DIR
# (also bumps StateChangeTimestamp and emits PropertiesChanged).
#
#   set-unit-state.sh DIR UNIT ACTIVE_STATE SUB_STATE     e.g. DIR myapp.service active running
#   set-unit-state.sh DIR --add UNIT_SPEC                 add a unit (spec as in start-mock.sh)
#   set-unit-state.sh DIR --remove UNIT                   forget a unit (NoSuchUnit afterwards)
#
# Exits non-zero (with the D-Bus error on stderr) when the mock refuses, e.g. unknown unit.
set -u

usage() {
    echo "usage: $0 DIR UNIT ACTIVE SUB | DIR --add SPEC | DIR --remove UNIT" >&2
    exit 2
}

[ $# -ge 3 ] || usage
[ -f "$1/bus-address" ] || {
    echo "set-unit-state.sh: no $1/bus-address (start-mock.sh not run?)" >&2
    exit 1
}
address=$(cat "$1/bus-address")

call() { # call METHOD ARG...
    method=$1
    shift
    dbus-send --bus="$address" --print-reply=literal --reply-timeout=5000 \
        --dest=org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        "org.freedesktop.DBus.Mock.$method" "$@" >/dev/null
}

case "$2" in
--add)
    [ $# -eq 3 ] || usage
    call AddUnit "string:$3"
    ;;
--remove)
    [ $# -eq 3 ] || usage
    call RemoveUnit "string:$3"
    ;;
*)
    [ $# -eq 4 ] || usage
    call SetUnitState "string:$2" "string:$3" "string:$4"
    ;;
esac
