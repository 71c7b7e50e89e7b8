// SPDX-License-Identifier: MIT
// XSS and token checks of the dashboard in headless Chromium: the real aggregator polls fake
// agents (node:http on 127.0.0.1) whose snapshots and unit catalogs carry HTML/JS payloads in
// every string an agent supplies (node_id, agent_version, GPU name/uuid/error, mounts and disk
// errors, unit states and errors, catalog names/descriptions, error texts), and the servers
// have payload names. Every page (overview, detail, events, manage, edit form, the discover
// panel and its error) must show the payloads as text: no dialog, no payload script run, no
// element or event-handler attribute injected; and no token appears in the page.
// Prints "N passed, N failed"; exit status 1 on any failure.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Aggregator, BIN_DIR, WEB_ROOT, launchBrowser, runner, sleep, waitUntil } from './harness.mjs';

const { test, run } = runner();
const tag = crypto.randomBytes(4).toString('hex');
// Each payload sets a flag (window.__xss) or opens a dialog if it ever runs.
const P = {
  img: `<img src=x onerror="window.__xss='img'">${tag}`,
  svg: `"><svg onload="window.__xss='svg'">`,
  script: '</script><script>window.__xss="script"</script>',
  attr: `' onmouseover='window.__xss=1' x='`,
  alert: '<b onclick=alert(1)>bold</b>',
  js: 'javascript:alert(2)',
};
const TOKENS = {
  admin: `ADMINTOK${tag}`, a: `AGENTTOKA${tag}`, b: `AGENTTOKB${tag}`, c: `AGENTTOKC${tag}`,
};
const WATCHED = ['nginx.service', 'odd.service'];

const ctx = { fakes: [], agg: null, browser: null, page: null, dialogs: [], ids: {} };

function iso(s) {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// The snapshot every string of which comes from the payload set (within the aggregator's caps).
function snapshot() {
  const now = Math.floor(Date.now() / 1000);
  return {
    node_id: P.img.slice(0, 64), ts: iso(now), agent_version: P.svg.slice(0, 31),
    uptime_s: 100, cpu_count: 4, load: [0.1, 0.2, 0.3], cpu_pct: 30,
    mem: { used_bytes: 1000, total_bytes: 4000, used_pct: 25 },
    disks: [{ mount: P.script, used_bytes: 10, total_bytes: 40, used_pct: 25 },
      { mount: P.attr, used_bytes: null, total_bytes: null, used_pct: null, error: P.img }],
    gpus: [{ index: 0, name: P.img, uuid: P.svg, util_pct: 40, mem_used_mb: 100, mem_total_mb: 1000, temp_c: 50, power_w: 70 },
      { index: 1, name: P.alert, uuid: 'GPU-1', util_pct: null, mem_used_mb: null, mem_total_mb: null, temp_c: null, power_w: null, error: P.script }],
    services: [
      { name: 'nginx.service', active_state: 'failed', sub_state: P.svg.slice(0, 31), since: iso(now - 60) },
      { name: 'odd.service', error: P.img },
    ],
    health: 'degraded',
  };
}

const CATALOG = [
  { name: P.img, description: P.script, active_state: P.svg, sub_state: P.alert, unit_file_state: P.attr },
  { name: 'nginx.service', description: P.img, active_state: 'active', sub_state: 'running', unit_file_state: 'enabled' },
];

// A fake agent: mode 'good' (snapshot + catalog), 'denied' (catalog answers 401 with a payload
// error text) or 'broken' (malformed snapshot: the server shows a last_error).
function fakeAgent(mode, token) {
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    let code = 200;
    let body;
    if (req.url.startsWith('/v1/snapshot')) {
      body = mode === 'broken' ? { ts: 'yesterday', cpu_pct: 'lots' } : snapshot();
    } else if (req.url.startsWith('/v1/services')) {
      if (mode === 'good') {
        body = { services: CATALOG };
      } else {
        code = 401;
        body = { error: `${P.img} ${P.alert}` };
      }
    } else {
      code = 404;
      body = { error: 'not found' };
    }
    const data = Buffer.from(JSON.stringify(body));
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    res.end(data);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const f = { mode, token, seen, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
    ctx.fakes.push(f);
    resolve(f);
  }));
}

async function setup() {
  for (const exe of ['monitor-aggregator']) assert.ok(fs.existsSync(path.join(BIN_DIR, exe)), `${exe} not built in ${BIN_DIR}`);
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  const good = await fakeAgent('good', TOKENS.a);
  const denied = await fakeAgent('denied', TOKENS.b);
  const broken = await fakeAgent('broken', TOKENS.c);
  ctx.agg = new Aggregator({
    adminToken: TOKENS.admin,
    servers: [
      { name: P.img, host: '127.0.0.1', agent_port: good.port, token: TOKENS.a, services: WATCHED },
      { name: P.svg, host: '127.0.0.1', agent_port: denied.port, token: TOKENS.b },
      { name: P.script, host: '127.0.0.1', agent_port: broken.port, token: TOKENS.c },
      { name: P.js, host: 'localhost', agent_port: 9, token: TOKENS.c, enabled: false },
    ],
  });
  await ctx.agg.start();
  await waitUntil(async () => {
    const s = await ctx.agg.serversByName();
    return s[P.img] && s[P.img].online && s[P.img].latest && s[P.img].latest.gpu_count === 2 &&
      s[P.script] && s[P.script].last_error;
  }, { timeout: 20000, what: 'the fake agents polled' });
  ctx.ids = Object.fromEntries(Object.entries(await ctx.agg.serversByName()).map(([k, v]) => [k, v.id]));
  ctx.browser = await launchBrowser();
  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  ctx.page = await context.newPage();
  ctx.page.on('dialog', (d) => {
    ctx.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
}

async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-30).join('\n')}`);
  }
  for (const f of ctx.fakes) await f.close();
}

async function goto(hash) {
  await ctx.page.goto(`${ctx.agg.base}/${hash}`);
  await ctx.page.waitForSelector('#navbar .navbar-brand');
}

// Nothing ran and nothing was injected: no flag, no dialog, no <img>/<iframe>/inline <script>,
// no element carrying an on* attribute, no javascript: link.
async function assertClean(where) {
  await sleep(300); // let a late onerror/onload fire if it would
  const r = await ctx.page.evaluate(() => ({
    flag: window.__xss === undefined ? null : String(window.__xss),
    injected: document.querySelectorAll('img, iframe, object, embed, script:not([src]), #view script, #view style').length,
    handlers: [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).map((e) => e.outerHTML.slice(0, 80)),
    jsLinks: [...document.querySelectorAll('[href]')].filter((e) => /^\s*javascript:/i.test(e.getAttribute('href'))).length,
  }));
  assert.equal(r.flag, null, `${where}: a payload ran`);
  assert.equal(r.injected, 0, `${where}: an element was injected`);
  assert.deepEqual(r.handlers, [], `${where}: event-handler attributes in the DOM`);
  assert.equal(r.jsLinks, 0, `${where}: javascript: link`);
  assert.deepEqual(ctx.dialogs, [], `${where}: a dialog opened`);
  const html = await ctx.page.content();
  for (const [k, v] of Object.entries(TOKENS)) assert.ok(!html.includes(v), `${where}: the ${k} token is in the page`);
}

async function shown(text, where) {
  await waitUntil(async () => (await ctx.page.getByText(text, { exact: false }).count()) > 0,
    { timeout: 12000, what: `${JSON.stringify(text)} shown as text on ${where}` });
}

test('overview shows payload server names as text', async () => {
  await goto('#/');
  for (const name of [P.img, P.svg, P.script, P.js]) await shown(name, 'overview');
  await assertClean('overview');
});

test('detail page: agent-supplied strings are text', async () => {
  await goto(`#/servers/${ctx.ids[P.img]}`);
  await waitUntil(async () => (await ctx.page.locator('#gpu-table tbody tr').count()) === 2, { timeout: 12000, what: 'GPU rows' });
  for (const s of [P.img, P.alert, P.script, P.attr, P.img.slice(0, 64), P.svg.slice(0, 31)]) await shown(s, 'detail');
  const gpu = await ctx.page.locator('#gpu-table tbody tr').first().textContent();
  assert.ok(gpu.includes(P.img), `GPU name shown literally (${gpu})`);
  const disks = await ctx.page.locator('#disk-table').textContent();
  assert.ok(disks.includes(P.script) && disks.includes(P.attr), 'mounts shown literally');
  const units = await ctx.page.locator('#unit-table').textContent();
  assert.ok(units.includes(P.svg.slice(0, 31)), 'sub_state shown literally');
  await assertClean('detail');
  // The server whose agent sent a broken reply: its last_error, and payload names as titles.
  for (const name of [P.script, P.svg, P.js]) {
    await goto(`#/servers/${ctx.ids[name]}`);
    await waitUntil(async () => ((await ctx.page.locator('.server-title').textContent()) || '') === name, { timeout: 12000, what: `title ${name}` });
    await assertClean(`detail of ${name}`);
  }
});

test('events, manage page and edit form', async () => {
  await goto('#/events');
  for (const name of [P.img, P.svg, P.script, P.js]) await shown(name, 'events');
  await assertClean('events');
  await goto('#/manage');
  for (const name of [P.img, P.svg, P.script, P.js]) await shown(name, 'manage');
  await assertClean('manage');
  await goto(`#/manage/edit/${ctx.ids[P.img]}`);
  await waitUntil(async () => (await ctx.page.inputValue('#f-name')) === P.img, { timeout: 12000, what: 'name in the form' });
  assert.equal(await ctx.page.inputValue('#f-token'), '', 'token never shown');
  await assertClean('edit form');
});

test('discover panel: catalog names, descriptions and states are text', async () => {
  await goto(`#/manage/edit/${ctx.ids[P.img]}`);
  await waitUntil(async () => (await ctx.page.inputValue('#f-name')) === P.img, { timeout: 12000, what: 'form filled' });
  await ctx.page.click('#discover-btn');
  await ctx.page.locator('#discover-list').waitFor({ timeout: 12000 });
  const list = await ctx.page.locator('#discover-list').textContent();
  for (const s of [P.img, P.script, P.svg, P.alert, P.attr]) assert.ok(list.includes(s), `catalog string ${s} shown literally`);
  await assertClean('discover list');
});

test('discover error: the agent error text is shown as text', async () => {
  await goto(`#/manage/edit/${ctx.ids[P.svg]}`);
  await waitUntil(async () => (await ctx.page.inputValue('#f-name')) === P.svg, { timeout: 12000, what: 'form filled' });
  await ctx.page.click('#discover-btn');
  const alert = ctx.page.locator('#discover-panel .alert');
  await alert.waitFor({ timeout: 12000 });
  const msg = await alert.textContent();
  assert.match(msg, /401/);
  assert.ok(msg.includes(P.img) && msg.includes(P.alert), `agent error shown literally (${msg})`);
  await assertClean('discover error');
});

test('the fake agents got the stored tokens (the token checks are not vacuous)', async () => {
  const byMode = Object.fromEntries(ctx.fakes.map((f) => [f.mode, f]));
  assert.ok(byMode.good.seen.includes(`Bearer ${TOKENS.a}`));
  assert.ok(byMode.denied.seen.includes(`Bearer ${TOKENS.b}`));
  const log = ctx.agg.output();
  for (const [k, v] of Object.entries(TOKENS)) assert.ok(!log.includes(v), `the ${k} token is in the aggregator log`);
});

await run({ before: setup, after: teardown });
