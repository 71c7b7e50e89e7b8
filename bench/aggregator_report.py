#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The printed part of bench/aggregator: the table, the JSON lines and the issue 12 and 14
targets with PASS/FAIL, from the rows bench/aggregator measured (pure: no processes)."""
import json

INTERVAL_S = 5


def mode_name(r):
    return ("TLS" if r.get("tls") else "plain") + (" new conn" if r.get("reconnect") else "")


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else format("-", ">" + spec.split(".")[0])


def report(rows, rss0, seconds):
    print(f"monitor-aggregator, interval {INTERVAL_S} s, timeout 2 s, fake agents on loopback "
          f"(aggregator on CPU 0, fleet and wrk on CPU 1), window {seconds} s after 2 intervals "
          f"of warm-up; reference RSS with 0 servers {rss0 / 1048576:.2f} MiB")
    print(f"{'N':>7} {'mode':>14} {'CPU%':>6} {'us/poll':>8} {'curl us':>7} {'x curl':>6} {'done/expected':>22} {'in-win%':>8} "
          f"{'late':>6} {'failed':>6} {'lag ms':>7} {'online':>7} {'KiB/srv':>8} "
          f"{'servers p99':>11} {'page p99':>9} {'fleet%':>7} {'load':>9}")
    for r in rows:
        done = f"{r['completed']}/{r['expected']} ({r['completed'] / max(1, r['expected']) * 100:.1f}%)"
        print(f"{r['n']:7d} {mode_name(r):>14} {r['cpu_pct']:6.1f} {fmt(r['cpu_us_per_poll'], '8.1f')} "
              f"{fmt(r.get('curl_floor_us_per_req'), '7.1f')} {fmt(r.get('ratio_to_curl_floor'), '6.2f')} {done:>22} "
              f"{r['in_window_pct']:8.2f} {r['late']:6d} {r['failed']:6d} {r['lag_max_ms']:7.0f} "
              f"{r['online_end']:7d} {r['rss_kib_per_server']:8.2f} "
              f"{fmt(r['servers_p99_ms'], '11.2f')} {fmt(r['servers_page_p99_ms'], '9.2f')} "
              f"{r['fleet_cpu_pct']:7.1f} {r['load_avg'][0]:4.1f}/{r['load_avg'][1]:4.1f}")
    for r in rows:
        print(f"N={r['n']} {mode_name(r)}: {r['kept_alive']} kept-alive connections (the rest reconnect each poll:"
              f" open-file limit); seeded in {r['seed_s']} s, API up in {r['startup_s']} s, all "
              f"online after {r['all_online_s']} s, on schedule after {r['settled_s']} s; RSS {r['rss'] / 1048576:.1f} MiB, growth "
              f"{r['rss_growth_kib_per_server_per_min']} KiB/server/min (second half "
              f"{r['rss_growth_late_kib_per_server_per_min']}); overloaded seen: "
              f"{r['overloaded_seen']}; db pending {r['pending_writes']} dropped "
              f"{r['dropped_writes']}; GET /api/servers {r['servers_bytes']} B in "
              f"{r['servers_get_ms']} ms, page {r['page_bytes']} B, overview refresh "
              f"{r['overview_bytes']} B; {r['fleet_processes']} fleet "
              f"process(es): {r['fleet_requests']} requests on {r['fleet_connections']} "
              f"connections, {r['fleet_handshakes']} TLS handshakes ("
              f"{r['fleet_handshake_failures']} failed, at most "
              f"{r['fleet_handshakes_at_once_max']} at once in one fleet process); "
              f"{r['threads']} threads, {r['fds']} fds; stop {r['agg_stop_s']} s; "
              f"servers' last errors at the end: {r['last_errors'] or 'none'}")
        if r.get("curl_floor_us_per_req"):
            print(f"N={r['n']} {mode_name(r)}: libcurl floor (bench/curl_floor on the same agents "
                  f"after the aggregator stopped, CPU 0), us CPU per kept-alive request: "
                  f"{r['curl_floor_us_per_req']} on the aggregator's schedule, "
                  f"{r['curl_floor_seq_us_per_req']} one at a time back to back, "
                  f"{r['curl_floor_64_us_per_req']} with 64 in flight; the fleet's us per request "
                  f"served: {r['fleet_us_per_req_floor']}, {r['fleet_us_per_req_floor_seq']}, "
                  f"{r['fleet_us_per_req_floor_64']}; the aggregator's poll costs "
                  f"{r['ratio_to_curl_floor']}x the floor on its schedule")
        for key in ("wrk_servers", "wrk_page"):
            w = r.get(key)
            if w:
                print(f"N={r['n']} {mode_name(r)}: wrk {key[4:]}: {w['rps']:.0f} req/s, p50 {w['p50_ms']} ms, "
                      f"p99 {w['p99_ms']} ms, non-2xx {w['non2xx']}"
                      f"{', socket errors ' + w['socket_errors'] if w['socket_errors'] else ''}")
    for r in rows:
        keys = ("n", "tls", "reconnect", "cpu_pct", "cpu_us_per_poll", "completed", "expected", "failed", "late",
                "in_window_pct", "online_end", "rss_kib_per_server", "rss_kib_per_server_full_ring",
                "rss_growth_kib_per_server_per_min", "rss_growth_late_kib_per_server_per_min",
                "servers_p99_ms", "servers_page_p99_ms", "servers_bytes", "page_bytes",
                "overview_bytes",
                "fleet_cpu_pct", "curl_floor_us_per_req", "ratio_to_curl_floor",
                "curl_floor_seq_us_per_req", "curl_floor_64_us_per_req", "fleet_us_per_req_floor",
                "fleet_us_per_req_floor_seq", "fleet_us_per_req_floor_64",
                "kept_alive", "lag_max_ms", "overloaded_seen", "load_avg",
                "fleet_connections", "fleet_handshakes", "all_online_s", "settled_s",
                "db_commits_per_s", "db_writes_per_s")
        print(json.dumps({k: (round(r[k], 2) if isinstance(r[k], float) else r[k])
                          for k in keys if k in r}))


def verdict(ok):
    return "PASS" if ok else "FAIL"


def verdicts(rows):
    rows = [r for r in rows if not r["tls"] and not r["reconnect"]]
    if not rows:
        return
    by_n = {r["n"]: r for r in rows}
    print()
    a, b = by_n.get(1000), by_n.get(10000)
    for r in (a, b):
        if r and r["cpu_us_per_poll"]:
            floor = (f" (libcurl alone, bench/curl_floor on this schedule: "
                     f"{r['curl_floor_us_per_req']} us)" if r.get("curl_floor_us_per_req") else "")
            print(f"target: <= 40 us CPU per poll at N={r['n']}: {r['cpu_us_per_poll']:.1f} us"
                  f"{floor} -> {verdict(r['cpu_us_per_poll'] <= 40)}")
    if a and b and a["cpu_us_per_poll"] and b["cpu_us_per_poll"]:
        ratio = b["cpu_us_per_poll"] / a["cpu_us_per_poll"]
        print(f"target: cost per poll at 10,000 <= 1.2x the 1,000 figure: {ratio:.2f}x "
              f"-> {verdict(ratio <= 1.2)}")
    if b:
        print(f"target: 10,000 agents on <= 25 % of a core: {b['cpu_pct']:.1f} % "
              f"-> {verdict(b['cpu_pct'] <= 25)}")
    for r in rows:
        ok = (r["failed"] == 0 and r["late"] == 0 and r["in_window_pct"] >= 99.95
              and r["online_end"] == r["n"] and r["completed"] >= 0.995 * r["expected"])
        print(f"target: N={r['n']} at 5 s on one core, every poll in its window, all online at "
              f"the end: CPU {r['cpu_pct']:.1f} %, {r['completed']}/{r['expected']} done, "
              f"{r['late']} late, {r['failed']} failed, in window {r['in_window_pct']} %, online "
              f"{r['online_end']} -> {verdict(ok and r['cpu_pct'] <= 100)}")
    for r in rows:
        print(f"fleet simulator at N={r['n']}: {r['fleet_cpu_pct']:.1f} % of its core (CPU 1, "
              f"{r['fleet_processes']} process(es)) "
              f"-> {'SATURATED' if r['fleet_cpu_pct'] >= 90 else 'not the limit'}")
    for r in rows:
        if r["n"] >= 1000:
            print(f"target: the overview at N={r['n']} fetches kilobytes, not megabytes, per "
                  f"refresh: {r['overview_bytes']} B (the whole list: {r['servers_bytes']} B) "
                  f"-> {verdict(r['overview_bytes'] <= 256 * 1024)}")
    worst = max(rows, key=lambda r: r["rss_kib_per_server_full_ring"])
    print(f"target: <= 16 KiB RSS per server with the ring full: worst "
          f"{worst['rss_kib_per_server_full_ring']:.2f} KiB at N={worst['n']} "
          f"-> {verdict(worst['rss_kib_per_server_full_ring'] <= 16)}")
    for n, limit in ((1000, 20), (10000, 50)):
        r = by_n.get(n)
        if r and r["servers_p99_ms"] is not None:
            print(f"target: GET /api/servers p99 <= {limit} ms at N={n}: {r['servers_p99_ms']} ms "
                  f"-> {verdict(r['servers_p99_ms'] <= limit and r['wrk_servers']['non2xx'] == 0)}")


def tls_verdicts(rows):
    """Issue 14's aggregator figures: kept-alive TLS against plain per N, the cost of a new
    connection and of a handshake, RSS per server over TLS, every N over TLS in its window."""
    def find(n, tls, reconnect):
        return next((r for r in rows if r["n"] == n and r["tls"] == tls
                     and r["reconnect"] == reconnect), None)
    print()
    for n in sorted({r["n"] for r in rows}):
        plain, tls = find(n, False, False), find(n, True, False)
        if plain and tls and plain["cpu_us_per_poll"] and tls["cpu_us_per_poll"]:
            ratio = tls["cpu_us_per_poll"] / plain["cpu_us_per_poll"]
            print(f"target: N={n} kept-alive TLS <= 1.5x plain CPU per poll: "
                  f"{tls['cpu_us_per_poll']:.1f} vs {plain['cpu_us_per_poll']:.1f} us = "
                  f"{ratio:.2f}x -> {verdict(ratio <= 1.5)}")
        if plain and tls:
            print(f"N={n}: RSS per server plain {plain['rss_kib_per_server']:.2f} KiB, TLS "
                  f"{tls['rss_kib_per_server']:.2f} KiB (a kept-alive TLS connection adds "
                  f"{tls['rss_kib_per_server'] - plain['rss_kib_per_server']:.2f} KiB)")
        pr, tr = find(n, False, True), find(n, True, True)
        if plain and tls and pr and tr and all(
                r["cpu_us_per_poll"] for r in (plain, tls, pr, tr)):
            conn = pr["cpu_us_per_poll"] - plain["cpu_us_per_poll"]
            shake = tr["cpu_us_per_poll"] - pr["cpu_us_per_poll"]
            print(f"N={n}: a poll over a new connection costs {pr['cpu_us_per_poll']:.1f} us "
                  f"plain and {tr['cpu_us_per_poll']:.1f} us over TLS: a new TCP connection "
                  f"{conn:.1f} us, a TLS handshake {shake:.1f} us more, a new TLS connection "
                  f"{tr['cpu_us_per_poll'] - tls['cpu_us_per_poll']:.1f} us more than a "
                  f"kept-alive TLS poll (fleet connections {pr['fleet_connections']} and "
                  f"{tr['fleet_connections']}, handshakes {tr['fleet_handshakes']})")
    for r in rows:
        if r["tls"] and not r["reconnect"]:
            print(f"target: <= 64 KiB RSS per server over TLS at N={r['n']}: "
                  f"{r['rss_kib_per_server']:.2f} KiB -> {verdict(r['rss_kib_per_server'] <= 64)}")
    for r in rows:
        if r["tls"] and not r["reconnect"]:
            ok = (r["failed"] == 0 and r["late"] == 0 and r["in_window_pct"] >= 99.95
                  and r["online_end"] == r["n"] and r["completed"] >= 0.995 * r["expected"])
            print(f"target: N={r['n']} over TLS at 5 s, every poll in its window, all online at "
                  f"the end: CPU {r['cpu_pct']:.1f} %, {r['completed']}/{r['expected']} done, "
                  f"{r['late']} late, {r['failed']} failed, in window {r['in_window_pct']} %, "
                  f"online {r['online_end']}, all online {r['all_online_s']} s after start "
                  f"-> {verdict(ok)}")
