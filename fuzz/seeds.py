#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes seed inputs for the fuzzers from real sources into OUT/<target>/: the test fixtures,
replies of a live monitor-agent (fixture procfs, fake NVML, fake nvidia-smi), this machine's
/proc files, the configs of README.md, deploy/ and the integration tests, and the requests the
dashboard (web/src) and docs/api.md make. `scripts/fuzz.sh seed` runs it and merges the result
into fuzz/corpus/ with libFuzzer's -merge=1 (only inputs that add coverage are kept).

Needs LANMON_BIN_DIR and LANMON_FAKES_DIR (a built tree's bin/ and lib/), as the integration
tests do. Usage: seeds.py OUT"""
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("LANMON_FIXTURES", os.path.join(ROOT, "tests", "fixtures"))
os.environ.setdefault("LANMON_TESTS_DIR", os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import lanmon_testlib as lt  # noqa: E402

FIXTURES = os.environ["LANMON_FIXTURES"]
OUT = sys.argv[1] if len(sys.argv) > 1 else "seeds"
counts = {}


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, re.sub(r"[^A-Za-z0-9_.-]", "_", name)), "wb") as f:
        f.write(data)
    counts[target] = counts.get(target, 0) + 1


def put_file(target, path, prefix=""):
    with open(path, "rb") as f:
        put(target, prefix + os.path.basename(path), f.read())


def fixtures():
    for p in glob.glob(os.path.join(FIXTURES, "agent-replies", "*")):
        put_file("sample", p, "fixture-")
    for p in glob.glob(os.path.join(FIXTURES, "nvidia-smi", "*.csv")):
        put_file("nvidia_smi", p, "fixture-")
    for p in glob.glob(os.path.join(FIXTURES, "proc", "*", "stat")):
        put_file("proc_stat", p, "fixture-" + os.path.basename(os.path.dirname(p)) + "-")
    for p in glob.glob(os.path.join(FIXTURES, "proc", "*", "meminfo")):
        put_file("proc_meminfo", p, "fixture-" + os.path.basename(os.path.dirname(p)) + "-")
    for p in glob.glob(os.path.join(FIXTURES, "cfg", "*.yaml")):
        put_file("agent_config", p, "fixture-")
        put_file("agg_config", p, "fixture-")
    put_file("proc_stat", "/proc/stat", "this-host-")
    put_file("proc_meminfo", "/proc/meminfo", "this-host-")


def fake_smi():
    smi = os.path.join(ROOT, "tests", "fakes", "nvidia-smi")
    args = [smi, "--query-gpu=index", "--format=csv,noheader,nounits"]
    for mode, gpus in (("normal", 1), ("normal", 4), ("na", 2), ("garbage", 1)):
        env = dict(os.environ, FAKE_SMI_MODE=mode, FAKE_SMI_GPUS=str(gpus))
        out = subprocess.run(args, env=env, capture_output=True, timeout=10).stdout
        put("nvidia_smi", f"fake-smi-{mode}-{gpus}.csv", out)


def yaml_blocks(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r"```yaml\n(.*?)```", f.read(), re.S)


def configs():
    for md in [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "*.md")):
        for i, block in enumerate(yaml_blocks(md)):
            target = "agent_config" if "node_id:" in block else "agg_config"
            put(target, f"{os.path.basename(md)}-{i}.yaml", block)
    put_file("agent_config", os.path.join(ROOT, "deploy", "agent", "config.yaml"), "deploy-")
    proc = os.path.join(FIXTURES, "proc", "basic")
    a = lt.Agent(proc, extra={"services_allowlist": ["nginx.service", "*.timer"],
                              "allow_from": ["127.0.0.0/8", "::1"]})
    with open(a.config_path, "rb") as f:
        put("agent_config", "integration-agent.yaml", f.read())
    a.close()
    g = lt.Aggregator(servers=[{"name": "srv-01", "host": "127.0.0.1", "agent_port": 9109,
                                "token": "test-token-0123456789", "services": ["nginx.service"],
                                "enabled": True}],
                      extra=['backup: { dir: "backups", keep_days: 7 }'])
    with open(g.config_path, "rb") as f:
        put("agg_config", "integration-aggregator.yaml", f.read())
    g.close()


def snapshots():
    """Real /v1/snapshot (and /v1/health, /v1/services) replies of a running agent."""
    smi = os.path.join(ROOT, "tests", "fakes", "nvidia-smi")
    variants = [
        ("2gpus", {}, {}),
        ("0gpus", {"FAKE_NVML_GPUS": "0"}, {}),
        ("8gpus", {"FAKE_NVML_GPUS": "8"}, {}),
        ("lost", {"FAKE_NVML_LOST": "1"}, {}),
        ("nopower", {"FAKE_NVML_POWER_UNSUPPORTED": "0"}, {}),
        ("smi", {"FAKE_NVML_INIT_FAIL": "1", "FAKE_SMI_GPUS": "2"}, {"nvidia_smi": smi}),
        ("units", {}, {"services_allowlist": ["nginx.service", "*.timer"],
                       "disks": ["/", "/dev"]}),
    ]
    for name, env, extra in variants:
        proc = lt.LiveProc("basic", busy_pct=40)
        a = lt.Agent(proc.dir, env=env, extra=extra)
        try:
            a.start()
            lt.wait_until(lambda: a.get("/v1/snapshot").json().get("cpu_pct") is not None,
                          timeout=15, what="a cpu_pct")
            put("sample", f"agent-{name}.json", a.get("/v1/snapshot").body)
            if name == "units":
                r = a.get("/v1/snapshot?services=nginx.service,sshd.service,backup.timer")
                put("sample", "agent-units-requested.json", r.body)
                put("sample", "agent-services.json", a.get("/v1/services").body)
            if name == "2gpus":
                put("sample", "agent-health.json", a.get("/v1/health").body)
        finally:
            a.close()
            proc.close()


def requests():
    """Paths, query strings and bodies the dashboard and the API docs send."""
    paths = ["GET /api/servers", "POST /api/servers", "GET /api/servers/1",
             "PUT /api/servers/8", "DELETE /api/servers/7", "GET /api/servers/1/timeseries",
             "GET /api/servers/1/recent", "GET /api/servers/1/services",
             "GET /api/servers/12/services/catalog", "GET /api/events", "GET /api/health",
             "PATCH /api/servers", "GET /api/nothing", "GET /api/servers/abc",
             "GET /", "GET /index.html", "GET /js/app.js", "GET /css/app.css",
             "GET /favicon.svg", "GET /../../etc/passwd", "GET //etc/passwd",
             "GET /.git/config", "GET /index.html/../../../../etc/passwd"]
    for i, p in enumerate(paths):
        put("api_path", f"path-{i:02d}", p)
    queries = ["metric=cpu_pct&agg=avg&from=2026-01-16T10%3A00%3A00Z&to=2026-01-17T10%3A00%3A00Z",
               "metric=gpu_util_pct&agg=max&from=2026-01-10T10%3A00%3A00Z"
               "&to=2026-01-17T10%3A00%3A00Z",
               "metric=cpu_pct&agg=max", "metric=gpu_util_pct", "metric=bogus",
               "metric=cpu_pct&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
               "metric=cpu_pct&from=yesterday", "limit=50", "limit=50&server_id=3",
               "limit=50&server_id=3&type=server_down&before=120", "limit=4", "limit=0",
               "limit=x", "type=bogus", "at=latest",
               "services=nginx.service,sshd.service,backup.timer"]
    for i, q in enumerate(queries):
        put("api_query", f"query-{i:02d}", q)
    series = ["cpu_pct\navg\n2026-01-16T10:00:00Z\n2026-01-17T10:00:00Z",
              "gpu_mem_used_mb\nmin\n2026-01-01\n2026-01-17T10:00:00+01:00",
              "disk_used_pct\nmax\n2026-01-17T09:59:59.250Z\n",
              "mem_used_pct\n\n\n2026-01-17T10:00:00-05:30", "cpu_pct", "5s\n500ms\n1h\n30d"]
    for i, t in enumerate(series):
        put("timeseries", f"series-{i:02d}", t)
    # The usage endpoints (fuzz_usage_query): ranges, groupings, filters, names to quote.
    usage = ['',
             'group_by=user',
             'from=2026-01-10T00:00:00Z&to=2026-01-17T10:00:00Z&group_by=user,server',
             'from=2026-01-10T05:30:00Z&to=2026-01-17T09:15:00Z&group_by=server&server_id=3',
             'group_by=server,user&user=alice&name=gpu-01',
             'user=%3Dcmd%7C%27%20%2FC%20calc%27%21A0&group_by=user,server&name=%40SUM(A1)',
             'user=a%2Cb%22c&name=x%0D%0Ay&group_by=user,server',
             'bucket=1h&tz_offset=480&user=bob',
             'bucket=1d&tz_offset=-300&from=2025-01-01T00:00:00Z',
             'from=2026-01-17T10:00:00Z&to=2026-01-17T09:00:00Z',
             'from=2024-01-01T00:00:00Z&to=2026-01-17T00:00:00Z',
             'group_by=users',
             'server_id=0',
             'server_id=-1',
             'tz_offset=30',
             'bucket=1w',
             'user=uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu',
             'from=2026-01-17T10:00:00%2B08:00&to=2026-01-17T12:00:00.5Z']
    for i, q in enumerate(usage):
        put("usage_query", f"usage-{i:02d}", q)
    bodies = [{"name": "closed-port", "host": "127.0.0.1", "agent_port": 29999, "token": "x",
               "services": [], "enabled": True},
              {"enabled": False},
              {"name": "srv-02", "host": "gpu-02.lab.example", "agent_port": 9109,
               "services": ["nginx.service", "docker.service"], "enabled": True},
              {"name": "x'); DROP TABLE servers;--", "host": "10.0.0.5", "agent_port": 1,
               "token": "t"},
              {"name": "a", "host": "h", "token": "t", "colour": "red"},
              {"host": "fe80::1", "token": "", "services": ["no such unit!"]}]
    for i, b in enumerate(bodies):
        put("api_body", f"body-{i:02d}.json", json.dumps(b))
    put("api_body", "not-an-object.json", "[1,2]")


def main():
    fixtures()
    fake_smi()
    configs()
    requests()
    snapshots()
    for t in sorted(counts):
        print(f"seeds: {t}: {counts[t]} files in {os.path.join(OUT, t)}")


if __name__ == "__main__":
    main()
