// SPDX-License-Identifier: MIT
// Browser tests of the GPU usage page (issue 15): totals, GPU-hours per user with the busy part,
// the user × server table (a deleted server kept under its name), the daily chart of everyone
// and of one user, the range buttons and a custom range, "Download CSV" of the same selection,
// Chinese and English, dark theme, the phone layout, and hostile user names shown as text.
// Past usage is written into the database before the aggregator starts; the current hour comes
// from a scripted agent (a process of alice), so the page also shows the partial hour.
// Screenshots go to $LANMON_SCREENSHOTS. Prints "N passed, N failed"; exit status 1 on failure.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Aggregator, BIN_DIR, WEB_ROOT, freePort, launchBrowser, runner, waitUntil } from './harness.mjs';

const SHOTS = process.env.LANMON_SCREENSHOTS || path.join(os.tmpdir(), 'lanmon-screenshots');
const XSS_USER = '<img src=x onerror=alert(1)>';
const ZH_USER = '王五';
const ctx = { agg: null, fake: null, browser: null, page: null, dialogs: [], pageErrors: [] };
const { test, run } = runner();

async function until(fn, what, timeout = 15000) {
  return waitUntil(fn, { timeout, what, step: 150 });
}

async function shot(name, page = ctx.page) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

async function text(locator) {
  return ((await locator.first().textContent()) || '').trim();
}

async function goto(hash, page = ctx.page) {
  await page.goto(`${ctx.agg.base}/${hash}`);
  await page.waitForSelector('#navbar .navbar-brand');
}

function iso(s) {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// A scripted agent: one GPU held by alice at 60 %.
async function startScriptedAgent() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({
      ts: iso(Math.floor(Date.now() / 1000)), cpu_pct: 5, disks: [],
      gpus: [{
        index: 0, name: 'NVIDIA H100', uuid: 'GPU-u-0', util_pct: 60, mem_used_mb: 20000, mem_total_mb: 81559,
        processes: [{ pid: 4242, user: 'alice', uid: 1001, command: 'python3', type: 'compute', used_mem_mb: 20000, started_at: '2026-01-01T00:00:00Z' }],
      }],
    }));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, token: 'scripted-token-0123456789', close: () => new Promise((r) => server.close(r)) };
}

// Past usage: the last 20 days, a few hours a day, for alice, bob, the Chinese and the
// HTML-shaped user; one row of a server that was deleted (id 99, "old-box").
function pastUsageSql(ids) {
  const hour = Math.floor(Date.now() / 3600000) * 3600;
  const rows = [];
  const add = (ts, sid, name, user, gpuS, busyS, gpus) => rows.push(
    `(${ts}, ${sid}, '${name.replace(/'/g, "''")}', '${user.replace(/'/g, "''")}', ${gpuS}, ${busyS}, ${gpuS * 20000}, ${gpus}, 1, ${ts + 10}, ${ts + 3590})`);
  for (let d = 0; d < 20; d++) {
    for (const hOff of [2, 5, 9]) {
      const ts = hour - (d * 24 + hOff) * 3600;
      add(ts, ids['gpu-a'], 'gpu-a', 'alice', 7200, 5400, 2);
      if (d % 2 === 0) add(ts, ids['gpu-a'], 'gpu-a', 'bob', 3600, 900, 1);
      if (d % 3 === 0) add(ts, ids['gpu-b'], 'gpu-b', ZH_USER, 1800, 1700, 1);
    }
  }
  add(hour - 30 * 3600, ids['gpu-b'], 'gpu-b', XSS_USER, 600, 60, 1);
  add(hour - 50 * 3600, 99, 'old-box', 'bob', 10800, 10000, 3);
  return [
    'BEGIN;',
    `INSERT INTO gpu_usage_hourly(ts, server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) VALUES ${rows.join(',\n')};`,
    'INSERT INTO gpu_usage_daily(day, server_id, server_name, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) ' +
      'SELECT ts - ts % 86400, server_id, max(server_name), user_name, sum(gpu_seconds), sum(busy_gpu_seconds), sum(mem_mb_seconds), max(max_gpus), sum(processes), min(first_seen), max(last_seen) ' +
      'FROM gpu_usage_hourly GROUP BY ts - ts % 86400, server_id, user_name;',
    'INSERT INTO gpu_usage_user_hourly(ts, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) ' +
      'SELECT ts, user_name, sum(gpu_seconds), sum(busy_gpu_seconds), sum(mem_mb_seconds), max(max_gpus), sum(processes), min(first_seen), max(last_seen) ' +
      'FROM gpu_usage_hourly GROUP BY ts, user_name;',
    'INSERT INTO gpu_usage_user_daily(day, user_name, gpu_seconds, busy_gpu_seconds, mem_mb_seconds, max_gpus, processes, first_seen, last_seen) ' +
      'SELECT ts - ts % 86400, user_name, sum(gpu_seconds), sum(busy_gpu_seconds), sum(mem_mb_seconds), max(max_gpus), sum(processes), min(first_seen), max(last_seen) ' +
      'FROM gpu_usage_hourly GROUP BY ts - ts % 86400, user_name;',
    'COMMIT;',
  ].join('\n');
}

async function setup() {
  for (const exe of ['monitor-aggregator']) assert.ok(fs.existsSync(path.join(BIN_DIR, exe)), `${exe} not built in ${BIN_DIR}`);
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  ctx.fake = await startScriptedAgent();
  const g = new Aggregator({
    servers: [
      { name: 'gpu-a', host: '127.0.0.1', agent_port: ctx.fake.port, token: ctx.fake.token },
      { name: 'gpu-b', host: '127.0.0.1', agent_port: 9, token: 'unreachable-token-0123' },
    ],
  });
  ctx.agg = g;
  await g.initDb();
  const ids = Object.fromEntries(g.sql('SELECT name, id FROM servers;').split('\n').map((l) => l.split('|')).map(([n, i]) => [n, Number(i)]));
  g.sql(pastUsageSql(ids));
  await g.start();
  await until(async () => {
    const r = await g.api('GET', '/api/usage');
    return r.json && r.json.partial && r.json.rows.some((x) => x.user === 'alice');
  }, 'the usage API with the current hour');
  ctx.browser = await launchBrowser();
  ctx.context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', acceptDownloads: true });
  ctx.page = await ctx.context.newPage();
  ctx.page.on('dialog', (d) => {
    ctx.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  ctx.page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
}

async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-30).join('\n')}`);
  }
  if (ctx.fake) await ctx.fake.close();
}

async function prefs({ theme, lang }, page = ctx.page) {
  await page.evaluate(([th, la]) => {
    if (th) localStorage.setItem('lanmon.theme', th);
    if (la) localStorage.setItem('lanmon.lang', la);
  }, [theme, lang]);
  await page.reload();
  await page.waitForSelector('#navbar .navbar-brand');
}

// The API's answer for the page's current range.
async function apiFor(page, groupBy) {
  const href = await page.locator('#usage-csv').getAttribute('href');
  const q = new URLSearchParams(href.split('?')[1]);
  q.set('group_by', groupBy);
  return (await ctx.agg.api('GET', `/api/usage?${q}`)).json;
}

const num = (s) => Number(s.replace(/[^\d.]/g, ''));

// ---- cases -------------------------------------------------------------------------------
test('usage page: totals, bars per user with the busy part, user × server table', async () => {
  const { page } = ctx;
  await goto('#/usage?range=30d');
  await prefs({ theme: 'light', lang: 'en' });
  assert.equal(await page.locator('[data-nav=usage]').getAttribute('aria-current'), 'page');
  await until(async () => (await page.locator('#usage-bars .usage-bar-row').count()) >= 4, 'the user bars');
  const byUser = await apiFor(page, 'user');
  const byBoth = await apiFor(page, 'user,server');
  assert.equal(await page.locator('#usage-bars .usage-bar-row').count(), byUser.rows.length);
  assert.ok(Math.abs(num(await text(page.locator('.usage-total'))) - byUser.total.gpu_hours) < 0.1);
  assert.equal(await text(page.locator('.usage-users')), String(byUser.rows.length));
  assert.equal(await page.locator('#usage-partial').isVisible(), true);
  // The first bar is the largest user, full width; its busy part is its efficiency.
  const first = page.locator('#usage-bars .usage-bar-row').first();
  assert.equal(await first.getAttribute('data-user'), byUser.rows[0].user);
  const widths = await first.evaluate((el) => [el.querySelector('.usage-bar-total').style.width, el.querySelector('.usage-bar-busy').style.width]);
  assert.equal(parseFloat(widths[0]), 100);
  assert.ok(Math.abs(parseFloat(widths[1]) - byUser.rows[0].efficiency_pct) < 0.1, widths);
  // The hostile user name is text, nothing ran.
  assert.equal(await page.locator(`#usage-bars .usage-bar-row[data-user="${XSS_USER}"]`).count(), 1);
  assert.equal(await page.locator('#usage-bars img').count(), 0);
  // The table: one row per user and server, the deleted server under its name.
  assert.equal(await page.locator('#usage-table tbody tr').count(), byBoth.rows.length);
  const old = page.locator('#usage-table tbody tr[data-server="old-box"]');
  assert.equal(await old.count(), 1);
  assert.equal(await text(old.locator('.badge')), 'deleted');
  assert.equal(await old.locator('a[href^="#/servers/"]').count(), 0);
  // The processes seen (one per hour of the scripted rows): the column after Max GPUs.
  assert.equal(await text(page.locator('#usage-table thead th').nth(7)), 'Processes');
  const oldRow = byBoth.rows.find((r) => r.server_name === 'old-box');
  assert.equal(oldRow.processes, 1);
  assert.equal(await text(old.locator('td').nth(7)), String(oldRow.processes));
  assert.equal(await page.locator('#usage-table tbody tr[data-server="gpu-a"] a[href^="#/servers/"]').count(), 2);
  // Every column fits the desktop card: first and last seen to the minute (no year this year),
  // the whole time as the tooltip.
  const fit = await page.locator('#usage-table').evaluate((tb) => {
    const box = tb.parentElement;
    return { sw: box.scrollWidth, cw: box.clientWidth };
  });
  assert.ok(fit.sw <= fit.cw + 1, `the table scrolls sideways: ${fit.sw} px in ${fit.cw}`);
  const seen = old.locator('td').nth(8);
  assert.doesNotMatch(await text(seen), /:\d\d:\d\d|\d{4}/, 'first seen: minutes, no year');
  assert.match(await seen.getAttribute('title'), /\d{4}.*:\d\d:\d\d/);
  await shot('usage-desktop-light-en.png');
});

test('daily chart: everyone, then one user picked from the bars', async () => {
  const { page } = ctx;
  await until(async () => Number(await page.locator('.usage-daily').getAttribute('data-points')) >= 10, 'daily bars of everyone');
  assert.match(await text(page.locator('.usage-daily .card-title')), /all users/);
  await page.locator(`#usage-bars .usage-bar-row[data-user="${ZH_USER}"]`).click();
  await until(async () => (await text(page.locator('.usage-daily .card-title'))).includes(ZH_USER), 'the chart of one user');
  // As many bars as the API has local days with use for this user.
  const href = await page.locator('#usage-csv').getAttribute('href');
  const q = new URLSearchParams(href.split('?')[1]);
  const series = (await ctx.agg.api('GET', `/api/usage/timeseries?${new URLSearchParams({ from: q.get('from'), to: q.get('to'), user: ZH_USER, bucket: '1d', tz_offset: String(Math.round(-new Date().getTimezoneOffset() / 60) * 60) })}`)).json;
  const days = series.points.filter((p) => p.gpu_hours > 0).length;
  assert.ok(days >= 7, `${days} days`); // every third day of 20, some split by local midnight
  await until(async () => Number(await page.locator('.usage-daily').getAttribute('data-points')) === days, `${ZH_USER}'s ${days} days`);
  assert.match(page.url(), /user=%E7%8E%8B%E4%BA%94/);
  assert.equal(await page.locator('#usage-all-users').isVisible(), true);
  await shot('usage-user-chart.png');
  await page.locator('#usage-all-users').click();
  await until(async () => /all users/.test(await text(page.locator('.usage-daily .card-title'))), 'back to everyone');
});

test('ranges: today, 7 days, custom; Download CSV is the same selection', async () => {
  const { page } = ctx;
  const total = async () => num(await text(page.locator('.usage-total')));
  await page.locator('button[data-range="30d"]').click();
  await until(async () => (await total()) > 40, '30 days');
  const t30 = await total();
  await page.locator('button[data-range="today"]').click();
  await until(async () => (await total()) < t30, 'today is less');
  assert.match(page.url(), /range=today/);
  const today = await apiFor(page, 'user');
  assert.ok(Math.abs((await total()) - today.total.gpu_hours) < 0.1);
  await page.locator('button[data-range="custom"]').click();
  assert.equal(await page.locator('#usage-custom').isVisible(), true);
  const day = (daysAgo) => {
    const d = new Date(Date.now() - daysAgo * 86400000);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  };
  await page.locator('#usage-from').fill(day(10));
  await page.locator('#usage-to').fill(day(3));
  await page.locator('#usage-apply').click();
  await until(async () => /range=custom/.test(page.url()) && (await page.locator('#usage-csv').getAttribute('href')).includes('from='), 'custom range');
  const href = await page.locator('#usage-csv').getAttribute('href');
  const q = new URLSearchParams(href.split('?')[1]);
  assert.equal(q.get('group_by'), 'user,server');
  assert.equal(new Date(q.get('to')) - new Date(q.get('from')), 8 * 86400000);
  const api = await apiFor(page, 'user,server');
  await until(async () => (await page.locator('#usage-table tbody tr').count()) === api.rows.length, 'custom rows');
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#usage-csv').click()]);
  assert.match(download.suggestedFilename(), /^gpu-usage_\d{4}-\d\d-\d\d_\d{4}-\d\d-\d\d\.csv$/);
  const body = fs.readFileSync(await download.path(), 'utf8');
  assert.ok(body.startsWith('\ufeffuser,server_id,server_name,gpu_hours'));
  assert.equal(body.trimEnd().split('\r\n').length, api.rows.length + 1);
  // A backwards range is refused with a message, not a request.
  await page.locator('#usage-from').fill(day(1));
  await page.locator('#usage-to').fill(day(5));
  await page.locator('#usage-apply').click();
  await until(async () => (await page.locator('.alert-warning').count()) === 1, 'the bad range message');
});

test('Chinese, dark theme and the phone layout', async () => {
  const { page } = ctx;
  await goto('#/usage?range=30d');
  await prefs({ theme: 'dark', lang: 'zh-CN' });
  await until(async () => (await text(page.locator('.page-title'))) === 'GPU 用量', 'Chinese title');
  assert.equal(await text(page.locator('[data-nav=usage]')), '用量');
  assert.equal(await text(page.locator('#usage-csv')), '下载 CSV');
  await until(async () => (await page.locator('#usage-table tbody tr').count()) > 3, 'rows in Chinese');
  assert.equal(await text(page.locator('#usage-table tbody tr[data-server="old-box"] .badge')), '已删除');
  assert.equal(await text(page.locator('#usage-table thead th').nth(7)), '进程数');
  await shot('usage-desktop-dark-zh.png');
  const phone = await ctx.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', isMobile: true, hasTouch: true });
  const p2 = await phone.newPage();
  p2.on('pageerror', (e) => ctx.pageErrors.push(e.message));
  await goto('#/usage?range=30d', p2);
  await until(async () => (await p2.locator('#usage-bars .usage-bar-row').count()) >= 4, 'phone bars');
  const overflow = await p2.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1)
      .map((e) => `${e.tagName}.${e.className}`).slice(0, 5);
    return { by: document.documentElement.scrollWidth - w, wide };
  });
  assert.ok(overflow.by <= 1, `page wider than the phone by ${overflow.by}px: ${overflow.wide.join(', ')}`);
  await shot('usage-phone.png', p2);
  await phone.close();
  await prefs({ theme: 'light', lang: 'en' });
  assert.deepEqual(ctx.dialogs, []);
  assert.deepEqual(ctx.pageErrors, []);
});

run({ before: setup, after: teardown });
