#!/usr/bin/python3
# SPDX-License-Identifier: MIT
'''python-dbusmock template: a small fake systemd manager for lanmon's tests.

It serves the parts of org.freedesktop.systemd1 the agent reads (ListUnits, LoadUnit, GetUnit,
GetUnitFileState and the unit properties Id, Description, LoadState, ActiveState, SubState,
UnitFileState, StateChangeTimestamp) plus mock-only controls. It does not start anything.

Usage (normally through tests/dbus/start-mock.sh, which also starts a private dbus-daemon):

    DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/x/system_bus_socket \
        /usr/bin/python3 -m dbusmock --system -t tests/dbus/systemd_mock.py \
        [-p '{"units": ["extra.service:active:running:enabled::Extra unit"], "no_defaults": false,
              "legacy": false}']

or directly `/usr/bin/python3 tests/dbus/systemd_mock.py [UNIT_SPEC...]`, which does the same.

A UNIT_SPEC is `name:active_state:sub_state:unit_file_state[:load_state[:description]]`
(load_state defaults to "loaded"; the description may contain ':'). Extra specs also come from
the environment variable LANMON_MOCK_UNITS (specs separated by ';' or newlines).

Default units: nginx.service (active/running, enabled, "A high performance web server"),
docker.service, cron.service, ssh.service (active/running, enabled), myapp.service
(failed/failed, enabled), backup.service (inactive/dead, disabled).

Run-time controls on the main object /org/freedesktop/systemd1, interface
org.freedesktop.DBus.Mock (see tests/dbus/set-unit-state.sh):
    SetUnitState(s name, s active_state, s sub_state)  updates the states and
        StateChangeTimestamp and emits PropertiesChanged; NoSuchUnit for an unknown unit.
    AddUnit(s spec)  adds (or replaces the states of) a unit described by a UNIT_SPEC.
    RemoveUnit(s name)  forgets a unit (later LoadUnit/GetUnit fail with NoSuchUnit).

Differences from real systemd: LoadUnit of an unknown unit fails with NoSuchUnit (real systemd
returns a unit with LoadState "not-found"; add one with load_state "not-found" to imitate that).
Unit object paths use systemd's label escaping but clients must still take them from replies.
'''

import os
import sys
import time

import dbus

from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = 'org.freedesktop.systemd1'
MAIN_OBJ = '/org/freedesktop/systemd1'
MAIN_IFACE = 'org.freedesktop.systemd1.Manager'
UNIT_IFACE = 'org.freedesktop.systemd1.Unit'
SERVICE_IFACE = 'org.freedesktop.systemd1.Service'
SYSTEM_BUS = True

NO_SUCH_UNIT = 'org.freedesktop.systemd1.NoSuchUnit'

DEFAULT_UNITS = [
    'nginx.service:active:running:enabled:loaded:A high performance web server',
    'docker.service:active:running:enabled:loaded:Docker Application Container Engine',
    'cron.service:active:running:enabled:loaded:Regular background program processing daemon',
    'myapp.service:failed:failed:enabled:loaded:My application',
    'backup.service:inactive:dead:disabled:loaded:Nightly backup',
    'ssh.service:active:running:enabled:loaded:OpenBSD Secure Shell server',
]


def _now_usec():
    return dbus.UInt64(int(time.time() * 1000000))


def _unit_path(name):
    '''Escapes a unit name like systemd's bus_label_escape (alnum kept, others as _xx).'''
    out = []
    for ch in name.encode('utf-8'):
        if (0x30 <= ch <= 0x39 and out) or 0x41 <= ch <= 0x5a or 0x61 <= ch <= 0x7a:
            out.append(chr(ch))
        else:
            out.append(f'_{ch:02x}')
    return MAIN_OBJ + '/unit/' + ''.join(out)


def _parse_spec(spec):
    parts = spec.strip().split(':', 5)
    if len(parts) < 4 or not parts[0]:
        raise dbus.exceptions.DBusException(
            f'bad unit spec {spec!r}: want name:active:sub:file_state[:load_state[:description]]',
            name='org.freedesktop.DBus.Error.InvalidArgs')
    name, active, sub, file_state = parts[:4]
    load_state = parts[4] if len(parts) > 4 and parts[4] else 'loaded'
    description = parts[5] if len(parts) > 5 else name
    return name, active, sub, file_state, load_state, description


def _unit_object(mock, name):
    try:
        return mockobject.objects[mock.units[str(name)]]
    except KeyError as e:
        raise dbus.exceptions.DBusException(f'Unit {name} not loaded.', name=NO_SUCH_UNIT) from e


def _add_unit(mock, spec):
    name, active, sub, file_state, load_state, description = _parse_spec(spec)
    mock.file_states[name] = file_state
    if name in mock.units:
        _set_state(mock, name, active, sub)
        props = {'LoadState': dbus.String(load_state), 'Description': dbus.String(description)}
        if not mock.legacy:
            props['UnitFileState'] = dbus.String(file_state)
        _unit_object(mock, name).UpdateProperties(UNIT_IFACE, props)
        return
    path = _unit_path(name)
    mock.units[name] = path
    props = {
        'Id': dbus.String(name),
        'Names': dbus.Array([name], signature='s'),
        'Description': dbus.String(description),
        'LoadState': dbus.String(load_state),
        'ActiveState': dbus.String(active),
        'SubState': dbus.String(sub),
        'StateChangeTimestamp': _now_usec(),
    }
    if not mock.legacy:
        props['UnitFileState'] = dbus.String(file_state)
    mock.AddObject(path, UNIT_IFACE, props, [])


def _set_state(mock, name, active, sub):
    obj = _unit_object(mock, name)
    obj.UpdateProperties(UNIT_IFACE, {
        'ActiveState': dbus.String(active),
        'SubState': dbus.String(sub),
        'StateChangeTimestamp': _now_usec(),
    })


def _env_specs():
    raw = os.environ.get('LANMON_MOCK_UNITS', '')
    return [s for s in raw.replace('\n', ';').split(';') if s.strip()]


def load(mock, parameters):
    '''Called by dbusmock with the -p parameters: "units" (list of specs), "no_defaults",
    "legacy" (an old manager: no LoadUnit, no UnitFileState property on units).'''
    mock.units = {}
    mock.file_states = {}
    mock.legacy = bool(parameters.get('legacy'))
    mock.next_job_id = 1
    mock.AddProperties(MAIN_IFACE, {'Version': dbus.String('252-lanmon-mock')})
    specs = [] if parameters.get('no_defaults') else list(DEFAULT_UNITS)
    specs += [str(s) for s in parameters.get('units', [])]
    specs += _env_specs()
    for spec in specs:
        _add_unit(mock, spec)


@dbus.service.method(MAIN_IFACE, in_signature='', out_signature='a(ssssssouso)')
def ListUnits(self):
    out = []
    for name in sorted(self.units):
        props = mockobject.objects[self.units[name]].props[UNIT_IFACE]
        out.append((name, props['Description'], props['LoadState'], props['ActiveState'],
                    props['SubState'], '', dbus.ObjectPath(self.units[name]), dbus.UInt32(0),
                    '', dbus.ObjectPath('/')))
    return dbus.Array(out, signature='(ssssssouso)')


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o')
def GetUnit(self, name):
    _unit_object(self, name)
    return dbus.ObjectPath(self.units[str(name)])


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='o')
def LoadUnit(self, name):
    if self.legacy:
        raise dbus.exceptions.DBusException('Unknown method LoadUnit',
                                            name='org.freedesktop.DBus.Error.UnknownMethod')
    _unit_object(self, name)
    return dbus.ObjectPath(self.units[str(name)])


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='s')
def GetUnitFileState(self, name):
    _unit_object(self, name)
    return dbus.String(self.file_states[str(name)])


def _job(self, name, active, sub):
    _set_state(self, name, active, sub)
    job_id = self.next_job_id
    self.next_job_id += 1
    return dbus.ObjectPath(f'{MAIN_OBJ}/job/{job_id}')


@dbus.service.method(MAIN_IFACE, in_signature='ss', out_signature='o')
def StartUnit(self, name, _mode):
    return _job(self, name, 'active', 'running')


@dbus.service.method(MAIN_IFACE, in_signature='ss', out_signature='o')
def StopUnit(self, name, _mode):
    return _job(self, name, 'inactive', 'dead')


@dbus.service.method(MOCK_IFACE, in_signature='sss', out_signature='')
def SetUnitState(self, name, active, sub):
    _set_state(self, name, active, sub)


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='')
def AddUnit(self, spec):
    _add_unit(self, spec)


@dbus.service.method(MOCK_IFACE, in_signature='s', out_signature='')
def RemoveUnit(self, name):
    _unit_object(self, name)
    path = self.units.pop(str(name))
    self.file_states.pop(str(name), None)
    self.RemoveObject(path)


if __name__ == '__main__':
    import json
    import subprocess
    ARGS = [sys.executable, '-m', 'dbusmock', '--system', '-t', os.path.abspath(__file__),
            '-p', json.dumps({'units': sys.argv[1:]})]
    sys.exit(subprocess.call(ARGS))
