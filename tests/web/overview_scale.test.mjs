// SPDX-License-Identifier: MIT
// The overview at fleet scale: 1,200 fake agents (build/bin/fleet) polled by a real
// aggregator, the dashboard in Chromium: 48 cards a page with a pager, counts from
// /api/servers/summary, search/filter/sort done by the aggregator, the bytes one 5-s refresh
// costs, and the overload banner (both languages). Prints "N passed, N failed".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Aggregator, BIN_DIR, Fleet, WEB_ROOT, launchBrowser, runner, waitUntil } from './harness.mjs';

const SHOTS = process.env.LANMON_SCREENSHOTS || path.join(os.tmpdir(), 'lanmon-screenshots');
const N = 1200;
const PAGE = 48;
const ctx = { fleet: null, agg: null, browser: null, page: null, pageErrors: [] };
const { test, run } = runner();

async function until(fn, what, timeout = 15000) {
  return waitUntil(fn, { timeout, what, step: 150 });
}

async function text(locator) {
  return ((await locator.textContent()) || '').trim();
}

async function goto(hash) {
  await ctx.page.goto(`${ctx.agg.base}/${hash}`);
}

async function shot(name) {
  await ctx.page.screenshot({ path: path.join(SHOTS, name), fullPage: false });
}

async function setup() {
  for (const exe of ['monitor-aggregator', 'fleet']) {
    assert.ok(fs.existsSync(path.join(BIN_DIR, exe)), `${exe} not built in ${BIN_DIR}`);
  }
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  ctx.fleet = await new Fleet({ count: N }).start();
  ctx.agg = new Aggregator({ servers: ctx.fleet.servers(), interval: '5s', timeout: '2s' });
  await ctx.agg.start();
  await until(async () => (await ctx.agg.api('GET', '/api/servers/summary')).json.online === N,
    `all ${N} servers online`, 90000);
  ctx.browser = await launchBrowser();
  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  ctx.page = await context.newPage();
  ctx.page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
}

async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-20).join('\n')}`);
  }
  if (ctx.fleet) await ctx.fleet.close();
}

test(`${N} servers: one page of ${PAGE} cards, a pager, counts from the summary`, async () => {
  const { page } = ctx;
  await goto('#/');
  await until(async () => (await page.locator('.server-col').count()) === PAGE, `${PAGE} cards`);
  assert.equal(await text(page.locator('.ov-page-info')), `Showing 1–${PAGE} of 1,200`);
  assert.equal(await text(page.locator('.ov-page-no')), 'Page 1 of 25');
  assert.equal(await text(page.locator('.ov-online-total')), '1,200 of 1,200 online');
  assert.equal(await text(page.locator('[data-count=online]')), 'online 1,200');
  assert.ok(await page.locator('[data-page=prev]').isDisabled());
  assert.equal(await text(page.locator('.server-col .server-name').first()), 'fleet-0');
  await shot('overview-1200.png');

  await page.click('[data-page=next]');
  await until(async () => (await text(page.locator('.ov-page-info'))) === `Showing 49–96 of 1,200`, 'page 2');
  assert.match(page.url(), /page=2/);
  await until(async () => (await text(page.locator('.server-col .server-name').first())) === 'fleet-48', 'page 2 starts at the 49th name');
  await page.reload();
  await until(async () => (await text(page.locator('.ov-page-no'))) === 'Page 2 of 25', 'the page survives a reload');

  await goto('#/?page=25');
  await until(async () => (await text(page.locator('.ov-page-info'))) === 'Showing 1,153–1,200 of 1,200', 'last page');
  assert.equal(await page.locator('.server-col').count(), PAGE);
  assert.ok(await page.locator('[data-page=next]').isDisabled());
  await goto('#/?page=99'); /* past the end (servers deleted meanwhile): the last page */
  await until(async () => (await text(page.locator('.ov-page-no'))) === 'Page 25 of 25', 'clamped to the last page');
});

test('search, status filter and sort are done by the aggregator', async () => {
  const { page } = ctx;
  await goto('#/');
  await until(async () => (await page.locator('.server-col').count()) === PAGE, 'first page');
  await page.fill('#ov-search', 'fleet-1199');
  await until(async () => (await page.locator('.server-col').count()) === 1, 'one match');
  assert.equal(await text(page.locator('.server-col .server-name')), 'fleet-1199');
  assert.ok(await page.locator('.ov-pager').isHidden(), 'no pager for one page');
  assert.match(page.url(), /q=fleet-1199/);
  await page.fill('#ov-search', 'fleet-11');
  /* fleet-11, fleet-110..119, fleet-1100..1199: 111 matches, three pages */
  await until(async () => (await text(page.locator('.ov-page-info'))) === `Showing 1–${PAGE} of 111`, '111 matches');
  await page.fill('#ov-search', '');
  await page.selectOption('#ov-sort', 'cpu');
  const top = (await ctx.agg.api('GET', '/api/servers?sort=cpu&limit=1&fields=name,latest')).json[0];
  await until(async () => (await text(page.locator('.server-col .server-name').first())) === top.name
    || (await page.locator('.server-col [data-metric=cpu] .usage-value').first().textContent()) === `${top.latest.cpu_pct}%`,
  'highest CPU first');
  await page.selectOption('#ov-status', 'offline');
  await until(async () => (await page.locator('.server-col').count()) === 0, 'no offline server');
  assert.ok(await page.getByText('No server matches the filter.').isVisible());
  await page.selectOption('#ov-status', '');
  await page.selectOption('#ov-sort', 'name');
});

test('one refresh of 1,200 servers costs a few tens of KB, never the whole list', async () => {
  const { page } = ctx;
  await goto('#/');
  await until(async () => (await page.locator('.server-col').count()) === PAGE, 'first page');
  const seen = [];
  const onResponse = (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/servers')) seen.push({ url: u.pathname + u.search, bytes: Number(r.headers()['content-length'] || 0) });
  };
  page.on('response', onResponse);
  const n0 = Number(await page.evaluate(() => document.body.dataset.refreshCount || 0));
  await until(async () => Number(await page.evaluate(() => document.body.dataset.refreshCount || 0)) >= n0 + 2, 'two refreshes', 15000);
  page.off('response', onResponse);
  const whole = (await ctx.agg.api('GET', '/api/servers')).text.length;
  const perRefresh = seen.reduce((a, s) => a + s.bytes, 0) / 2;
  assert.ok(whole > 500000, `the whole list is ${whole} bytes`);
  assert.ok(perRefresh < 40000, `one refresh fetched ${perRefresh} bytes: ${JSON.stringify(seen)}`);
  assert.ok(seen.every((s) => s.url !== '/api/servers'), 'the whole list is never fetched');
  console.log(`     one refresh: ${Math.round(perRefresh)} bytes (the whole list: ${whole})`);
});

test('overload banner: shown in both languages while /api/health says overloaded', async () => {
  const { page } = ctx;
  await goto('#/');
  await until(async () => (await page.locator('.server-col').count()) === PAGE, 'first page');
  assert.equal(await page.locator('#overload-banner').count(), 0, 'no banner while polling keeps up');
  const real = (await ctx.agg.api('GET', '/api/health')).json;
  assert.equal(real.poll.overloaded, false);
  await page.route('**/api/health', (route) => route.fulfill({
    status: 200, contentType: 'application/json',
    body: JSON.stringify({ ...real, poll: { ...real.poll, overloaded: true, lag_ms: 12000 } }),
  }));
  await page.reload();
  await until(async () => (await page.locator('#overload-banner').count()) === 1, 'banner shown');
  assert.match(await text(page.locator('#overload-banner')), /^The aggregator is overloaded: polls start 12 s late, so every server is polled less often than every 5 s\. No server is reported offline because of it\.$/);
  await shot('overload-banner.png');
  await page.selectOption('#lang-select', 'zh-CN');
  await until(async () => /中心节点负载过高：轮询比计划晚 12 秒 开始/.test(await text(page.locator('#overload-banner'))), 'Chinese banner');
  await page.selectOption('#lang-select', 'en');
  await page.unroute('**/api/health');
  await page.reload();
  await until(async () => (await page.locator('.server-col').count()) === PAGE, 'first page again');
  assert.equal(await page.locator('#overload-banner').count(), 0, 'banner gone with the real health');
  assert.deepEqual(ctx.pageErrors, []);
});

run({ before: setup, after: teardown });
