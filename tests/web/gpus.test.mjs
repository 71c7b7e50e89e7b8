// SPDX-License-Identifier: MIT
// Browser tests of the GPU fleet view (issue 10): the GPUs page (header count, states, users
// with process counts, free-only filter, search, sorting, stale rows of an offline server,
// the phone layout), the overview's GPU line and error badge, and the detail page's process
// tables and health lines. Real agents list real processes running under other users through
// the fake NVML; a scripted agent reports an XSS-shaped user name and command, which must show
// as text with no dialog. Screenshots (desktop and phone, light and dark, English and Chinese)
// go to $LANMON_SCREENSHOTS. Prints "N passed, N failed"; exit status 1 on any failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Agent, Aggregator, BIN_DIR, LiveProc, WEB_ROOT, freePort, launchBrowser, runner, waitUntil } from './harness.mjs';

const SHOTS = process.env.LANMON_SCREENSHOTS || path.join(os.tmpdir(), 'lanmon-screenshots');
const XSS_PROC = '<img src=x onerror=alert(1)>';
const XSS_USER = '<img src=y onerror=alert(2)>';
const XSS_CMD = '<script>alert(3)</script>';

const ctx = { procs: [], agents: [], sleepers: [], fake: null, agg: null, browser: null, page: null, dialogs: [], pageErrors: [] };
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

async function apiGpus() {
  return (await ctx.agg.api('GET', '/api/gpus')).json;
}

function row(server, index, page = ctx.page) {
  return page.locator(`#gpu-table tr.gpu-row[data-gpu="${ctx.ids[server]}:${index}"]`);
}

// A real `sleep` under uid (and under another name when given), linked into the procfs.
async function sleeper(procDir, uid, name) {
  let exe = '/bin/sleep';
  if (name) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanmon-sleep-'));
    fs.chmodSync(dir, 0o755);
    exe = path.join(dir, name);
    fs.symlinkSync('/bin/sleep', exe);
  }
  const p = spawn(exe, ['300'], { uid, gid: uid, stdio: 'ignore' });
  ctx.sleepers.push(p);
  await until(() => {
    try {
      return fs.readlinkSync(`/proc/${p.pid}/exe`).endsWith('sleep');
    } catch {
      return false;
    }
  }, 'sleep to start', 5000);
  fs.symlinkSync(`/proc/${p.pid}`, path.join(procDir, String(p.pid)));
  return p;
}

// An agent whose reply is written here: two GPUs, one held by a user and a command shaped like
// HTML (what a hostile or broken agent could send), one free.
function scriptedSnapshot() {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return JSON.stringify({
    ts: now, cpu_pct: 5, mem: { used_bytes: 1, total_bytes: 4, used_pct: 25 }, disks: [],
    gpus: [
      {
        index: 0, name: 'NVIDIA H100', uuid: 'GPU-scripted-0', util_pct: 97, mem_used_mb: 70000, mem_total_mb: 81559, temp_c: 71, power_w: 600,
        processes: [{ pid: 31337, user: XSS_USER, uid: 4242, command: XSS_CMD, type: 'compute', used_mem_mb: 70000, container: 'abcdef012345', started_at: '2026-01-01T00:00:00Z' }],
        processes_truncated: false, throttle: ['sw_thermal_slowdown'], fan_pct: 80, xid: [],
      },
      { index: 1, name: 'NVIDIA H100', uuid: 'GPU-scripted-1', util_pct: 0, mem_used_mb: 0, mem_total_mb: 81559, temp_c: 35, power_w: 70, processes: [], xid: [] },
    ],
  });
}

async function startScriptedAgent() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(scriptedSnapshot());
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, token: 'scripted-token-0123456789', close: () => new Promise((r) => server.close(r)) };
}

async function setup() {
  for (const exe of ['monitor-agent', 'monitor-aggregator']) {
    assert.ok(fs.existsSync(path.join(BIN_DIR, exe)), `${exe} not built in ${BIN_DIR}`);
  }
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  const proc = new LiveProc({ busyPct: 30 });
  ctx.procs.push(proc);
  const nobody = await sleeper(proc.dir, 65534);
  const nobodyXss = await sleeper(proc.dir, 65534, XSS_PROC);
  const daemon = await sleeper(proc.dir, 1);
  ctx.pids = { nobody: nobody.pid, nobodyXss: nobodyXss.pid, daemon: daemon.pid };
  const stateFile = path.join(proc.dir, '..', `nvml-gpus-${process.pid}`);
  fs.writeFileSync(stateFile, [
    'mem_used_mb@0=0',
    'util@1=83', 'mem_used_mb@1=24576', `procs@1=${nobody.pid}:20480,${nobodyXss.pid}:4096`,
    'util@2=1', `procs@2=${daemon.pid}:6144`,
    'remap_pending@3=1', 'util@3=40', `procs@3=${daemon.pid}:1024`, 'throttle@3=0x40',
    '',
  ].join('\n'));
  ctx.stateFile = stateFile;
  const a = await new Agent({ procfs: proc.dir, nodeId: 'gpu-a', gpus: 4, env: { FAKE_NVML_STATE_FILE: stateFile } }).start();
  const c = await new Agent({ procfs: proc.dir, nodeId: 'gpu-c', gpus: 2, token: 'token-c-0123456789' }).start();
  const d = await new Agent({ procfs: proc.dir, nodeId: 'cpu-d', gpus: 0, token: 'token-d-0123456789' }).start();
  ctx.agents.push(a, c, d);
  ctx.agentC = c;
  ctx.fake = await startScriptedAgent();
  const g = new Aggregator({
    servers: [
      { name: 'gpu-a', host: '127.0.0.1', agent_port: a.port, token: a.token },
      { name: 'gpu-b', host: '127.0.0.1', agent_port: ctx.fake.port, token: ctx.fake.token },
      { name: 'gpu-c', host: '127.0.0.1', agent_port: c.port, token: c.token },
      { name: 'cpu-d', host: '127.0.0.1', agent_port: d.port, token: d.token },
    ],
    extra: ['gpu_state: { free_mem_mb: 512, busy_util_pct: 10, idle_after: 2s }'],
  });
  ctx.agg = g;
  await g.start();
  await until(async () => {
    const r = await apiGpus();
    return r && r.summary.total === 8 && r.summary.unknown === 0 &&
      r.gpus.find((x) => x.server_name === 'gpu-a' && x.index === 2 && x.state === 'idle') &&
      r.gpus.find((x) => x.server_name === 'gpu-a' && x.index === 1 && x.users.length === 1);
  }, 'every GPU known, gpu-a GPU 2 idle', 25000);
  // gpu-c goes offline: its GPUs become unknown, its last values stale.
  await c.stop('SIGKILL');
  await until(async () => (await apiGpus()).summary.unknown === 2, 'gpu-c offline', 15000);
  const servers = await g.serversByName();
  ctx.ids = Object.fromEntries(Object.entries(servers).map(([k, v]) => [k, v.id]));

  ctx.browser = await launchBrowser();
  ctx.context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  ctx.page = await ctx.context.newPage();
  watch(ctx.page);
}

function watch(page) {
  page.on('dialog', (d) => {
    ctx.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
}

async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-30).join('\n')}`);
  }
  for (const a of ctx.agents) await a.close();
  if (ctx.fake) await ctx.fake.close();
  for (const p of ctx.sleepers) p.kill('SIGKILL');
  for (const p of ctx.procs) p.close();
  if (ctx.stateFile) fs.rmSync(ctx.stateFile, { force: true });
}

// Remembers a theme and a language (localStorage, as the navbar does) and reloads, so that
// boot.js applies them before the first paint.
async function prefs({ theme, lang }, page = ctx.page) {
  await page.evaluate(([th, la]) => {
    if (th) localStorage.setItem('lanmon.theme', th);
    if (la) localStorage.setItem('lanmon.lang', la);
  }, [theme, lang]);
  await page.reload();
  await page.waitForSelector('#navbar .navbar-brand');
}

// ---- cases -------------------------------------------------------------------------------
test('GPUs page: header count, states, users with process counts, XSS shown as text', async () => {
  const { page } = ctx;
  await goto('#/gpus');
  await prefs({ theme: 'light', lang: 'en' });
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'eight GPU rows');
  const api = await apiGpus();
  assert.equal(await text(page.locator('.gpu-free-total')), `${api.summary.free} of 8 GPUs free`);
  assert.equal(api.summary.free, 2); // gpu-a #0 and gpu-b #1
  assert.equal(await page.locator('[data-nav=gpus]').getAttribute('aria-current'), 'page');
  const states = { 'gpu-a': ['free', 'busy', 'idle', 'error'], 'gpu-b': ['busy', 'free'], 'gpu-c': ['unknown', 'unknown'] };
  for (const [server, list] of Object.entries(states)) {
    for (let i = 0; i < list.length; i++) {
      const r = row(server, i);
      await until(async () => (await r.getAttribute('data-state')) === list[i], `${server} #${i} ${list[i]}`);
      assert.equal(await r.locator('.gpu-state').getAttribute('data-state'), list[i]);
    }
  }
  assert.equal(await text(row('gpu-a', 2).locator('.gpu-state')), 'idle');
  assert.equal(await row('gpu-a', 3).locator('.gpu-state').getAttribute('title'), 'row remapping pending');
  // users with their process counts; the XSS-shaped names are text
  assert.equal(await text(row('gpu-a', 1).locator('.gpu-users')), 'nobody ×2');
  assert.equal(await text(row('gpu-a', 2).locator('.gpu-users')), 'daemon ×1');
  assert.equal(await text(row('gpu-b', 0).locator('.gpu-users')), `${XSS_USER} ×1`);
  assert.equal(await text(row('gpu-a', 0).locator('.gpu-users')), 'no processes');
  assert.equal(await page.locator('img[src="x"], img[src="y"], #gpu-table script').count(), 0);
  assert.equal(await text(row('gpu-a', 1).locator('[data-metric=gpu-util] .usage-value')), '83%');
  assert.equal(await text(row('gpu-a', 1).locator('[data-metric=gpu-mem] .usage-value')), '24 / 80 GiB');
  // the offline server's rows: stale, unknown, last values kept
  assert.match(await row('gpu-c', 0).getAttribute('class'), /\bstale\b/);
  assert.equal(await row('gpu-c', 0).locator('.gpu-stale').isVisible(), true);
  await shot('gpus-desktop-light-en.png');
  assert.deepEqual(ctx.dialogs, []);
});

test('GPUs page: free only, state buttons, search and sorting, kept in the URL', async () => {
  const { page } = ctx;
  await goto('#/gpus');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'eight rows');
  await page.check('#gpu-free-only');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 2, 'two free GPUs');
  for (const r of await page.locator('#gpu-table tr.gpu-row').all()) assert.equal(await r.getAttribute('data-state'), 'free');
  assert.match(page.url(), /state=free/);
  assert.equal(await text(page.locator('.gpu-free-total')), '2 of 8 GPUs free'); // the header stays
  await page.reload();
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 2, 'free only survives reload');
  assert.equal(await page.isChecked('#gpu-free-only'), true);
  await page.uncheck('#gpu-free-only');
  await page.click('[data-count=error]');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 1, 'the GPU in error');
  await page.click('[data-count=error]');
  await page.fill('#gpu-search', 'daemon');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 2, 'the GPUs daemon is on');
  await page.fill('#gpu-search', 'alert(3)');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 1, 'search by command');
  await page.fill('#gpu-search', '');
  await page.selectOption('#gpu-sort', 'util');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').first().getAttribute('data-gpu')) === `${ctx.ids['gpu-b']}:0`, 'busiest first');
  await page.selectOption('#gpu-sort', 'state');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').first().getAttribute('data-state')) === 'free', 'free first');
  await page.selectOption('#gpu-sort', 'server');
  // the overview's link to one server's GPUs
  await goto(`#/gpus?server=${ctx.ids['gpu-a']}`);
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 4, 'only gpu-a');
  assert.match(await text(page.locator('.gpu-server-filter')), /Only gpu-a/);
  await page.click('.gpu-server-filter .btn-close');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'all servers again');
});

test('GPUs page on a phone, dark, in Chinese', async () => {
  const phone = await ctx.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, locale: 'zh-CN', isMobile: true, hasTouch: true });
  const page = await phone.newPage();
  watch(page);
  try {
    await goto('#/gpus', page);
    await prefs({ theme: 'light', lang: 'zh-CN' }, page);
    await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'rows on the phone');
    assert.equal(await text(page.locator('.gpu-free-total')), '8 块 GPU 中 2 块空闲');
    assert.equal(await text(page.locator(`tr.gpu-row[data-gpu="${ctx.ids['gpu-a']}:2"] .gpu-state`)), '占用闲置');
    // each row folds into a block that fits the screen
    const r = page.locator('#gpu-table tr.gpu-row').first();
    assert.equal(await r.evaluate((el) => getComputedStyle(el).display), 'grid');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `page wider than the phone: ${width}px`);
    // the title and "N of M GPUs free" side by side or one above the other, never overlapping
    const title = await page.locator('.page-title').boundingBox();
    const summary = await page.locator('.gpu-summary').boundingBox();
    assert.ok(title.x + title.width <= summary.x || title.y + title.height <= summary.y,
      `the title overlaps the summary: ${JSON.stringify({ title, summary })}`);
    await shot('gpus-phone-light-zh.png', page);
    await page.check('#gpu-free-only');
    await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 2, 'free only on the phone');
    await page.uncheck('#gpu-free-only');
    await prefs({ theme: 'dark' }, page);
    await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'rows, dark');
    await shot('gpus-phone-dark-zh.png', page);
    await prefs({ lang: 'en' }, page);
    await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'rows, dark, English');
    await shot('gpus-phone-dark-en.png', page);
  } finally {
    await phone.close();
  }
  assert.deepEqual(ctx.dialogs, []);
});

test('overview: GPUs free per server, the error badge, stale values of an offline server', async () => {
  const { page } = ctx;
  await goto('#/');
  await prefs({ theme: 'light', lang: 'en' });
  const cardOf = (name) => page.locator('.server-col').filter({ has: page.locator('.server-name').getByText(name, { exact: true }) });
  await until(async () => (await text(cardOf('gpu-a').locator('.gpu-free'))) === '1 free / 4', 'gpu-a: 1 free / 4');
  assert.equal(await text(cardOf('gpu-a').locator('.gpu-error-badge')), '1 in error');
  assert.equal(await cardOf('gpu-b').locator('.gpu-error-badge').isVisible(), false);
  assert.equal(await text(cardOf('gpu-b').locator('.gpu-free')), '1 free / 2');
  // a server without GPUs has no GPU line (not an empty one)
  await until(async () => /no GPU/.test(await text(cardOf('cpu-d'))), 'cpu-d: no GPU');
  assert.equal(await cardOf('cpu-d').locator('.gpu-line').isVisible(), false);
  assert.equal(await cardOf('gpu-a').locator('.gpu-free').getAttribute('href'), `#/gpus?server=${ctx.ids['gpu-a']}`);
  await until(async () => (await cardOf('gpu-c').locator('.stale-note').isVisible()), 'gpu-c stale note');
  assert.match(await text(cardOf('gpu-c').locator('.stale-note')), /^Offline: last values from \d+ (s|min) ago\.$/);
  assert.match(await cardOf('gpu-c').locator('.server-metrics').getAttribute('class'), /\bstale\b/);
  assert.doesNotMatch(await cardOf('gpu-a').locator('.server-metrics').getAttribute('class'), /\bstale\b/);
  await shot('overview-gpus-light-en.png');
  await prefs({ theme: 'dark', lang: 'zh-CN' });
  await until(async () => (await text(cardOf('gpu-a').locator('.gpu-free'))) === '1 空闲 / 4', 'dark overview in Chinese');
  await shot('overview-gpus-dark-zh.png');
  await prefs({ theme: 'light', lang: 'en' });
});

test('detail: the process table of each GPU and its health line', async () => {
  const { page } = ctx;
  await goto(`#/servers/${ctx.ids['gpu-a']}`);
  await until(async () => (await page.locator('#gpu-procs-1 tbody tr').count()) === 2, 'GPU 1 processes');
  const procRow = (pid) => page.locator(`#gpu-procs-1 tr[data-pid="${pid}"]`);
  const cells = async (pid) => (await procRow(pid).locator('td').allTextContents()).map((s) => s.trim());
  const nobody = await cells(ctx.pids.nobody);
  assert.equal(nobody[0], 'nobody (65534)');
  assert.equal(nobody[1], String(ctx.pids.nobody));
  assert.equal(nobody[2], 'sleep');
  assert.equal(nobody[3], '20 GiB');
  // running for: since the start time the agent read (the fixture procfs
  // boots in January); the two largest units, in English.
  assert.match(nobody[5], /^(\d+ d \d+ h|\d+ h \d+ min|\d+ min)$/);
  assert.ok(await procRow(ctx.pids.nobody).locator('td').nth(5).getAttribute('title'));
  const xss = await cells(ctx.pids.nobodyXss);
  assert.equal(xss[2], XSS_PROC.slice(0, 15)); // the kernel keeps 15 bytes of comm
  assert.equal(await page.locator('#gpu-procs-2 tbody tr').count(), 1);
  assert.match((await cells(ctx.pids.nobody))[4], /^([0-9a-f]{12}|—)$/);
  // health: GPU 3 has a remapping pending and is throttled
  const health3 = page.locator('[data-gpu-health="3"]');
  assert.equal(await text(health3.locator('[data-health=remap]')), 'row remapping pending (reset the GPU)');
  assert.match(await health3.locator('[data-health=remap]').getAttribute('class'), /text-danger/);
  assert.equal(await text(health3.locator('[data-health=throttle]')), 'throttled: hw_thermal_slowdown');
  assert.equal(await text(page.locator('[data-gpu-health="0"] [data-health=ecc]')), 'ECC: 0 uncorrected, 0 corrected');
  assert.equal(await text(page.locator('[data-gpu-health="0"] [data-health=fan]')), 'fan 41%');
  assert.equal(await text(page.locator('[data-gpu-health="0"] [data-health=xid]')), 'no Xid');
  assert.equal(await page.locator('#gpu-table tbody tr[data-gpu="3"]').getAttribute('data-state'), 'error');
  assert.equal(await text(page.locator('.gpu-detail[data-gpu="0"]')).then((s) => /No process on this GPU/.test(s)), true);
  await shot('detail-gpus-light-en.png');

  // an Xid arrives: the health line shows it, and the state turns to error for a moment
  fs.appendFileSync(ctx.stateFile, 'xid=1:79\n');
  await until(async () => /last Xid 79/.test(await text(page.locator('[data-gpu-health="1"] [data-health=xid]'))), 'the Xid in the health line');

  // the scripted agent's XSS-shaped user and command: text, no element, no dialog
  await goto(`#/servers/${ctx.ids['gpu-b']}`);
  await until(async () => (await page.locator('#gpu-procs-0 tbody tr').count()) === 1, 'gpu-b GPU 0 process');
  const cellsB = (await page.locator('#gpu-procs-0 tbody tr td').allTextContents()).map((s) => s.trim());
  assert.equal(cellsB[0], `${XSS_USER} (4242)`);
  assert.equal(cellsB[2], XSS_CMD);
  assert.equal(cellsB[4], 'abcdef012345');
  assert.equal(await page.locator('img[src="y"], .proc-command script').count(), 0);
  await goto(`#/servers/${ctx.ids['gpu-a']}`);
  await prefs({ theme: 'dark', lang: 'zh-CN' });
  await until(async () => (await page.locator('#gpu-procs-1 tbody tr').count()) === 2, 'detail in Chinese');
  assert.equal(await text(page.locator('[data-gpu-health="3"] [data-health=remap]')), '行重映射待处理（需重置 GPU）');
  await shot('detail-gpus-dark-zh.png');
  await goto('#/gpus');
  await until(async () => (await page.locator('#gpu-table tr.gpu-row').count()) === 8, 'GPUs page, dark, Chinese');
  await shot('gpus-desktop-dark-zh.png');
  await prefs({ theme: 'light', lang: 'en' });
  assert.deepEqual(ctx.dialogs, []);
  assert.deepEqual(ctx.pageErrors, []);
});

test('events page lists the GPU events with their types', async () => {
  const { page } = ctx;
  await until(async () => ((await ctx.agg.api('GET', '/api/events?type=gpu_idle')).json.events || []).length >= 1, 'a gpu_idle event');
  await goto('#/events?type=gpu_idle');
  await until(async () => (await page.locator('#events-table tbody tr').count()) >= 1, 'gpu_idle rows');
  assert.equal(await text(page.locator('#events-table tbody tr .badge')), 'GPU idle');
  assert.match(await text(page.locator('#events-table .ev-message')), /^GPU 2 \(NVIDIA Fake GPU\) on gpu-a idle since .*, held by daemon \(1 process\)$/);
  assert.equal(await page.locator('#ev-type option[value=gpu_error]').count(), 1);
});

run({ before: setup, after: teardown });
