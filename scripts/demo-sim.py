#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""`make run`: puts the simulated GPU servers into the demo aggregator through its admin API,
or takes them out (SIM=0). Reads the servers `sim-fleet --print-servers` prints on stdin.
Only servers named sim-gpu-NN are ever touched (the simulator speaks plain HTTP: tls off), except
by tls-local, which turns TLS on for the other (the local agent) where an older demo database
has it off.
Usage: scripts/demo-sim.py URL ADMIN_TOKEN_FILE AGENT_TOKEN_FILE sync|remove|tls-local
       < servers.json"""
import json
import re
import sys
import urllib.error
import urllib.request

SIM_NAME = re.compile(r"^sim-gpu-[0-9]{2}$")


def call(base, admin, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"X-Admin-Token": admin,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"demo-sim: {method} {path}: HTTP {e.code} {e.read().decode()}")


def read(path):
    with open(path) as f:
        return f.read().strip()


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("sync", "remove", "tls-local"):
        raise SystemExit(__doc__)
    base, admin, token, mode = (sys.argv[1].rstrip("/"), read(sys.argv[2]), read(sys.argv[3]),
                                sys.argv[4])
    if mode == "tls-local":
        for s in call(base, admin, "GET", "/api/servers"):
            if not SIM_NAME.match(s["name"]) and not s["tls"]:
                call(base, admin, "PUT", f"/api/servers/{s['id']}", {"tls": True})
        return
    wanted = json.load(sys.stdin) if mode == "sync" else []
    existing = {s["name"]: s for s in call(base, admin, "GET", "/api/servers")
                if SIM_NAME.match(s["name"])}
    for s in wanted:
        body = {"host": s["host"], "agent_port": s["agent_port"], "token": token,
                "services": s["services"], "enabled": True, "tls": False}
        if s["name"] in existing:
            call(base, admin, "PUT", f"/api/servers/{existing.pop(s['name'])['id']}", body)
        else:
            call(base, admin, "POST", "/api/servers", {"name": s["name"], **body})
    for s in existing.values():  # fewer simulated servers than last time, or SIM=0
        call(base, admin, "DELETE", f"/api/servers/{s['id']}")


if __name__ == "__main__":
    main()
