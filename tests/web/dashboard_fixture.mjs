// SPDX-License-Identifier: MIT
// The fixture of the dashboard browser tests (dashboard.test.mjs): two real monitor-agents
// (live fixture procfs, fake NVML, one with the D-Bus systemd mock) and a real aggregator on
// 127.0.0.1 with SQLite seeded with hourly rows, Chromium via playwright-core, and the helpers
// the cases share (navigation, waits, screenshots to $LANMON_SCREENSHOTS, the page watchers).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, Aggregator, BIN_DIR, DBusMock, LiveProc, WEB_ROOT, launchBrowser, waitUntil } from './harness.mjs';

export const SHOTS = process.env.LANMON_SCREENSHOTS || path.join(os.tmpdir(), 'lanmon-screenshots');
export const XSS_NAME = '<img src=x onerror=alert(1)>';
export const ADMIN = 'admin-token-0123456789';
export const SEED_HOURS = 8 * 24;

export const ctx = {
  procs: [], agents: [], bus: null, agg: null, browser: null, context: null, page: null,
  ids: {}, dialogs: [], pageErrors: [], consoleErrors: [], apiServerRequests: [], inflight: 0, maxInflight: 0,
};

// ---- helpers -----------------------------------------------------------------------------
export function url(hash = '') {
  return `${ctx.agg.base}/${hash}`;
}

export async function goto(hash) {
  await ctx.page.goto(url(hash));
  await ctx.page.waitForSelector('#navbar .navbar-brand');
}

export async function shot(name, page = ctx.page) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

export async function refreshCount(page = ctx.page) {
  return Number(await page.evaluate(() => document.body.dataset.refreshCount || 0));
}

// Waits for the next finished refresh of the current view.
export async function nextRefresh(page = ctx.page, timeout = 12000) {
  const n = await refreshCount(page);
  await waitUntil(async () => (await refreshCount(page)) > n, { timeout, what: 'a dashboard refresh' });
}

export function card(name, page = ctx.page) {
  return page.locator('.server-col').filter({ has: page.locator('.server-name').getByText(name, { exact: true }) });
}

export async function text(locator) {
  return ((await locator.first().textContent()) || '').trim();
}

export function fmt1(v) {
  return new Intl.NumberFormat('en', { maximumFractionDigits: 1 }).format(v);
}

export async function until(fn, what, timeout = 12000) {
  return waitUntil(fn, { timeout, what, step: 150 });
}

export async function apiServers() {
  return ctx.agg.serversByName();
}

// ---- setup -------------------------------------------------------------------------------
export async function setup() {
  for (const exe of ['monitor-agent', 'monitor-aggregator']) {
    assert.ok(fs.existsSync(path.join(BIN_DIR, exe)), `${exe} not built in ${BIN_DIR} (LANMON_BIN_DIR)`);
  }
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });

  const procA = new LiveProc({ busyPct: 25 });
  const procB = new LiveProc({ busyPct: 50 });
  ctx.procs.push(procA, procB);
  ctx.bus = new DBusMock();
  const a = await new Agent({
    procfs: procA.dir, nodeId: 'node-a', gpus: 2,
    env: { DBUS_SYSTEM_BUS_ADDRESS: ctx.bus.address }, extra: { services_allowlist: ['*.service'] },
  }).start();
  const b = await new Agent({ procfs: procB.dir, nodeId: 'node-b', gpus: 1, token: 'token-b-0123456789' }).start();
  ctx.agents.push(a, b);
  ctx.agentA = a;
  ctx.agentB = b;
  const g = new Aggregator({
    adminToken: ADMIN,
    servers: [
      { name: 'srv-a', host: '127.0.0.1', agent_port: a.port, token: a.token, services: ['nginx.service', 'myapp.service'] },
      { name: 'srv-b', host: '127.0.0.1', agent_port: b.port, token: b.token },
      { name: XSS_NAME, host: '127.0.0.1', agent_port: a.port, token: a.token },
    ],
  });
  ctx.agg = g;
  await g.initDb();
  // Hourly history for srv-a: SEED_HOURS finished buckets before the current hour.
  const idA = Number(g.sql("SELECT id FROM servers WHERE name = 'srv-a';"));
  const now = Math.floor(Date.now() / 1000);
  const cur = now - (now % 3600);
  const rows = [];
  for (let h = 1; h <= SEED_HOURS; h++) {
    const v = 20 + (h % 6) * 10;
    rows.push(`(${idA}, ${cur - h * 3600}, 720, ${v}, ${v + 20}, ${v - 10}, 60, 70, 50, 40, 41, 39, ${v + 5}, 95, 0, 2048, 81920, 4096, 0, 1000, 2000)`);
  }
  g.sql(`BEGIN; INSERT INTO samples_hourly (server_id, ts, samples, cpu_pct_avg, cpu_pct_max, cpu_pct_min,
    mem_used_pct_avg, mem_used_pct_max, mem_used_pct_min, disk_used_pct, disk_used_pct_max, disk_used_pct_min,
    gpu_util_pct_avg, gpu_util_pct_max, gpu_util_pct_min, gpu_mem_used_mb, gpu_mem_total_mb, gpu_mem_used_mb_max,
    gpu_mem_used_mb_min, disk_used_bytes, disk_total_bytes) VALUES ${rows.join(',\n')}; COMMIT;`);
  await g.start();
  await until(async () => {
    const s = await apiServers();
    return s['srv-a'] && s['srv-a'].online && s['srv-a'].latest && s['srv-a'].latest.cpu_pct === 25 &&
      s['srv-b'].online && s[XSS_NAME].online;
  }, 'all servers online with samples', 20000);
  const s = await apiServers();
  ctx.ids = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.id]));

  ctx.browser = await launchBrowser();
  ctx.context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  ctx.page = await ctx.context.newPage();
  watch(ctx.page);
}

export function watch(page) {
  page.on('dialog', (d) => {
    ctx.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') ctx.consoleErrors.push(m.text());
  });
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/servers' && r.method() === 'GET') {
      ctx.apiServerRequests.push(Date.now());
      ctx.inflight++;
      ctx.maxInflight = Math.max(ctx.maxInflight, ctx.inflight);
    }
  });
  const done = (r) => {
    if (new URL(r.url()).pathname === '/api/servers' && r.method() === 'GET') ctx.inflight--;
  };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
}

export async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-30).join('\n')}`);
  }
  for (const a of ctx.agents) await a.close();
  if (ctx.bus) ctx.bus.close();
  for (const p of ctx.procs) p.close();
}
