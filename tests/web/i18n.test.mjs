// SPDX-License-Identifier: MIT
// Browser tests of the dashboard's languages (issue 17): the English and Chinese string tables
// have the same keys and placeholders; every formatter speaks the current language (no Chinese
// units in English, no English units in Chinese), on the formatters and on every page; the
// language is detected once, by boot.js, and lang.js follows it. One real agent (fixture procfs,
// fake NVML) and a real aggregator; screenshots of each page in both languages go to
// $LANMON_SCREENSHOTS. Prints "N passed, N failed"; exit status 1 on any failure.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent, Aggregator, LiveProc, REPO, WEB_ROOT, launchBrowser, runner, waitUntil } from './harness.mjs';

const SHOTS = process.env.LANMON_SCREENSHOTS || path.join(os.tmpdir(), 'lanmon-screenshots');
const JS_DIR = path.join(REPO, 'web', 'src', 'js');
const CJK = /[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]/;
// A number followed by an English unit word, as an English formatter would write it.
const LATIN_UNIT = /\d\s*(ms|s|min|h|d)\b/;
const PAGES = ['#/', 'detail', '#/gpus', '#/usage', '#/events', '#/manage'];

const ctx = { proc: null, agent: null, agg: null, browser: null, serverId: null, pageErrors: [] };
const { test, run } = runner();

async function until(fn, what, timeout = 15000) {
  return waitUntil(fn, { timeout, what, step: 150 });
}

// A fresh browser context in the given browser locale, with optional stored language and a
// replacement boot.js; returns its page, loaded at #/.
async function openPage({ locale = 'en-US', stored = null, bootBody = null } = {}) {
  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale });
  if (stored !== null) {
    await context.addInitScript((v) => {
      try {
        if (!sessionStorage.getItem('lanmon.test.seeded')) {
          localStorage.setItem('lanmon.lang', v);
          sessionStorage.setItem('lanmon.test.seeded', '1');
        }
      } catch {
        /* about:blank has no storage */
      }
    }, stored);
  }
  if (bootBody !== null) {
    await context.route('**/js/boot.js', (r) => r.fulfill({ status: 200, contentType: 'text/javascript', body: bootBody }));
  }
  const page = await context.newPage();
  page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
  await page.goto(`${ctx.agg.base}/#/`);
  await page.waitForSelector('#navbar .navbar-brand');
  return { context, page };
}

// Runs fn(i18nModule, arg) in the page (fn is serialised: it sees only its arguments).
const i18n = (page, fn, arg) => page.evaluate(`(async () => {
  const m = await import('/js/i18n.js');
  return (${fn.toString()})(m, ${JSON.stringify(arg ?? null)});
})()`);

async function setup() {
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'index.html')), `dashboard not built in ${WEB_ROOT}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  ctx.proc = new LiveProc({ busyPct: 30 });
  ctx.agent = await new Agent({ procfs: ctx.proc.dir, nodeId: 'node-i18n', gpus: 2 }).start();
  ctx.agg = new Aggregator({
    servers: [{ name: 'srv-i18n', host: '127.0.0.1', agent_port: ctx.agent.port, token: ctx.agent.token }],
  });
  await ctx.agg.start();
  await until(async () => {
    const s = (await ctx.agg.serversByName())['srv-i18n'];
    return s && s.online && s.latest;
  }, 'the server online with a sample', 20000);
  ctx.serverId = (await ctx.agg.serversByName())['srv-i18n'].id;
  ctx.browser = await launchBrowser();
}

async function teardown() {
  if (ctx.browser) await ctx.browser.close().catch(() => {});
  if (ctx.agg) {
    const log = ctx.agg.output();
    await ctx.agg.close();
    if (process.exitCode) console.log(`--- aggregator log (tail) ---\n${log.split('\n').slice(-30).join('\n')}`);
  }
  if (ctx.agent) await ctx.agent.close();
  if (ctx.proc) ctx.proc.close();
}

// ---- string tables (plain modules: imported here without a browser) ------------------------
test('both string tables have the same keys and the same placeholders', async () => {
  const { STRINGS_EN } = await import(pathToFileURL(path.join(JS_DIR, 'strings_en.js')).href);
  const { STRINGS_ZH_CN } = await import(pathToFileURL(path.join(JS_DIR, 'strings_zh_CN.js')).href);
  const en = Object.keys(STRINGS_EN), zh = Object.keys(STRINGS_ZH_CN);
  assert.ok(en.length > 300, `${en.length} English strings`);
  assert.deepEqual(en.filter((k) => !(k in STRINGS_ZH_CN)), [], 'keys missing from strings_zh_CN.js');
  assert.deepEqual(zh.filter((k) => !(k in STRINGS_EN)), [], 'keys missing from strings_en.js');
  const vars = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
  for (const k of en) assert.equal(vars(STRINGS_ZH_CN[k]), vars(STRINGS_EN[k]), `placeholders of ${k}`);
  for (const k of en) assert.doesNotMatch(STRINGS_EN[k], CJK, `English ${k} has Chinese text`);
  for (const k of zh.filter((x) => /^(unit|ago)\./.test(x))) {
    assert.doesNotMatch(STRINGS_ZH_CN[k], /\b(ms|s|min|h|d)\b/, `Chinese ${k} has an English unit`);
  }
  // The browser's view of the same tables (what the dashboard itself checks against).
  const { page, context } = await openPage();
  try {
    assert.deepEqual(await i18n(page, (m) => m.missingKeys()), { zh: [], en: [] });
  } finally {
    await context.close();
  }
});

// ---- formatters ------------------------------------------------------------------------------
function formatAll(m, now) {
  return {
    dur3h5: m.fmtDuration(3 * 3600 + 5 * 60 + 59),
    dur2d4h: m.fmtDuration(2 * 86400 + 4 * 3600 + 30 * 60),
    dur7m: m.fmtDuration(7 * 60 + 10),
    durNone: m.fmtDuration(null),
    ms850: m.fmtDurationMs(850),
    ms12s: m.fmtDurationMs(12000),
    ms3m: m.fmtDurationMs(210000),
    ago5s: m.fmtAgo(now - 5000),
    ago3m: m.fmtAgo(now - 180000),
    ago2h: m.fmtAgo(now - 2 * 3600 * 1000),
    ago3d: m.fmtAgo(now - 3 * 86400 * 1000),
    num: m.fmtNumber(1234.56),
    pct: m.fmtPct(42.25),
    bytes: m.fmtBytes(3 * 1024 * 1024 * 1024),
  };
}

test('English formatters: English units, never Chinese ones', async () => {
  const { page, context } = await openPage({ locale: 'en-US' });
  try {
    assert.equal(await i18n(page, (m) => m.lang()), 'en');
    const f = await i18n(page, `(m) => (${formatAll.toString()})(m, m.serverNow())`);
    assert.deepEqual(f, {
      dur3h5: '3 h 5 min', dur2d4h: '2 d 4 h', dur7m: '7 min', durNone: '—',
      ms850: '850 ms', ms12s: '12 s', ms3m: '3.5 min',
      ago5s: '5 s ago', ago3m: '3 min ago', ago2h: '2 h ago', ago3d: '3 d ago',
      num: '1,234.6', pct: '42.3%', bytes: '3 GiB',
    });
    for (const [k, v] of Object.entries(f)) assert.doesNotMatch(v, CJK, `${k}: ${v}`);
  } finally {
    await context.close();
  }
});

test('Chinese formatters: Chinese units, never English ones; switching back restores English', async () => {
  const { page, context } = await openPage({ locale: 'en-US' });
  try {
    await i18n(page, (m) => m.setLang('zh-CN'));
    const f = await i18n(page, `(m) => (${formatAll.toString()})(m, m.serverNow())`);
    assert.deepEqual(f, {
      dur3h5: '3 小时 5 分钟', dur2d4h: '2 天 4 小时', dur7m: '7 分钟', durNone: '—',
      ms850: '850 毫秒', ms12s: '12 秒', ms3m: '3.5 分钟',
      ago5s: '5 秒前', ago3m: '3 分钟前', ago2h: '2 小时前', ago3d: '3 天前',
      num: '1,234.6', pct: '42.3%', bytes: '3 GiB',
    });
    for (const [k, v] of Object.entries(f)) assert.doesNotMatch(v, LATIN_UNIT, `${k}: ${v}`);
    await i18n(page, (m) => m.setLang('en'));
    assert.equal(await i18n(page, (m) => m.fmtDuration(2 * 86400 + 4 * 3600)), '2 d 4 h');
  } finally {
    await context.close();
  }
});

// ---- one detection ---------------------------------------------------------------------------
test('the language is detected once, by boot.js: lang.js follows <html lang>', async () => {
  // boot.js replaced by one that picks the other language than the browser's: if lang.js
  // detected on its own (navigator.language, localStorage), it would disagree.
  const cases = [
    { locale: 'en-US', boot: 'zh-CN', nav: '概览' },
    { locale: 'zh-CN', boot: 'en', nav: 'Overview' },
  ];
  for (const c of cases) {
    const bootBody = `document.documentElement.setAttribute('lang', ${JSON.stringify(c.boot)});`;
    const { page, context } = await openPage({ locale: c.locale, bootBody });
    try {
      assert.equal(await i18n(page, (m) => m.lang()), c.boot, `browser ${c.locale}, boot.js chose ${c.boot}`);
      await until(async () => ((await page.locator('[data-nav=overview]').textContent()) || '').trim() === c.nav, `navbar in ${c.boot}`);
      assert.equal(await page.getAttribute('html', 'lang'), c.boot);
    } finally {
      await context.close();
    }
  }
  // The API has no detection of its own to call.
  const { page, context } = await openPage();
  try {
    const names = await page.evaluate(async () => Object.keys(await import('/js/i18n.js')).sort());
    assert.deepEqual(names.filter((n) => /detect|stored|navigator/i.test(n)), []);
  } finally {
    await context.close();
  }
});

test('boot.js: the browser language, else a remembered choice, for every language of LANGS', async () => {
  for (const [locale, want] of [['en-US', 'en'], ['zh-CN', 'zh-CN'], ['zh-TW', 'zh-CN'], ['de-DE', 'en']]) {
    const { page, context } = await openPage({ locale });
    try {
      assert.equal(await i18n(page, (m) => m.lang()), want, `browser ${locale}`);
    } finally {
      await context.close();
    }
  }
  const { page: p0, context: c0 } = await openPage();
  const codes = await i18n(p0, (m) => m.LANGS.map((l) => l.code));
  await c0.close();
  assert.deepEqual(codes, ['en', 'zh-CN']);
  // Each language remembered, in a browser that prefers the other one.
  for (const code of codes) {
    const locale = code === 'en' ? 'zh-CN' : 'en-US';
    const { page, context } = await openPage({ locale, stored: code });
    try {
      assert.equal(await i18n(page, (m) => m.lang()), code, `stored ${code}, browser ${locale}`);
    } finally {
      await context.close();
    }
  }
  // A stored value that is no language of ours falls back to the browser's.
  const { page, context } = await openPage({ locale: 'zh-CN', stored: 'fr' });
  try {
    assert.equal(await i18n(page, (m) => m.lang()), 'zh-CN');
    // The switch persists the choice: after a reload boot.js picks it.
    await page.selectOption('#lang-select', 'en');
    await page.reload();
    await page.waitForSelector('#navbar .navbar-brand');
    assert.equal(await i18n(page, (m) => m.lang()), 'en');
  } finally {
    await context.close();
  }
});

// ---- every page, both languages ----------------------------------------------------------------
async function visibleText(page) {
  return page.evaluate(() => {
    const clone = document.body.cloneNode(true);
    for (const el of clone.querySelectorAll('#lang-select')) el.remove(); // names each language in its own
    return clone.innerText;
  });
}

// A fresh load of one page, returned once its data is shown.
async function loadPage(page, which) {
  const hash = which === 'detail' ? `#/servers/${ctx.serverId}` : which;
  await page.goto(`${ctx.agg.base}/${hash}`);
  await page.reload();
  await page.waitForSelector('#navbar .navbar-brand');
  const loading = await i18n(page, (m) => m.t('common.loading'));
  await until(async () => (which === '#/usage' || Number(await page.evaluate(() => document.body.dataset.refreshCount || 0)) >= 1) &&
    !(await page.locator('#view').innerText()).includes(loading), `${which} loaded`);
  if (which === 'detail') {
    await until(async () => Number(await page.locator('[data-chart=cpu_pct] .chart').getAttribute('data-points')) >= 1, 'detail chart');
  }
  await page.waitForLoadState('networkidle').catch(() => {});
  return hash;
}

test('every page in English shows no Chinese, and in Chinese no English units', async () => {
  for (const [locale, code] of [['en-US', 'en'], ['zh-CN', 'zh-CN']]) {
    const { page, context } = await openPage({ locale });
    try {
      assert.equal(await i18n(page, (m) => m.lang()), code);
      for (const which of PAGES) {
        await loadPage(page, which);
        const body = await visibleText(page);
        const name = which === 'detail' ? 'detail' : which.replace('#/', '') || 'overview';
        await page.screenshot({ path: path.join(SHOTS, `i18n-${name}-${code}.png`), fullPage: true });
        if (code === 'en') {
          assert.doesNotMatch(body, CJK, `${name} in English: ${(body.match(new RegExp(`.{0,40}${CJK.source}.{0,40}`)) || [''])[0]}`);
        } else {
          const m = body.match(new RegExp(`.{0,40}${LATIN_UNIT.source}.{0,20}`));
          assert.equal(m, null, `${name} in Chinese shows an English unit: ${m && m[0]}`);
          assert.match(body, CJK, `${name} in Chinese`);
        }
      }
      // The detail page's uptime (the fixture's 3600 s plus the test's run) in the language.
      await loadPage(page, 'detail');
      const uptime = await page.evaluate(() => document.body.innerText);
      assert.match(uptime, code === 'en' ? /\b1 h \d+ min\b/ : /1 小时 \d+ 分钟/);
    } finally {
      await context.close();
    }
  }
});

// ---- event messages (stored in English from one template per type: event_text.js) ---------
// The aggregator's own wording (src/aggregator/state.c, state_gpus.c, store_rows.c).
const EVENTS = [
  ['server_down', 'Server srv-a went offline: Connection refused'],
  ['server_up', 'Server srv-a came back online'],
  ['service_failed', 'Service nginx.service on srv-a failed'],
  ['service_recovered', 'Service nginx.service on srv-a recovered'],
  ['server_added', 'Server srv-a added (127.0.0.1:9109)'],
  ['server_removed', 'Server srv-a removed'],
  ['server_key_pinned', 'Server srv-a: TLS key pinned at first contact (sha256//AAAA)'],
  ['server_key_changed', "Server srv-a presented a different TLS key than the one pinned: its data is refused until an admin re-pins it (or the agent's old key is restored)"],
  ['gpu_error', 'GPU 3 (NVIDIA A100) on srv-a: fell off the bus'],
  ['gpu_recovered', 'GPU 0 on srv-a recovered'],
  ['gpu_idle', 'GPU 1 (NVIDIA A100) on srv-a idle since 2026-12-01T10:00:00Z, held by alice (2 processes), a user the agent cannot see (1 process) and 3 more'],
  ['gpu_idle', 'GPU 1 on srv-a idle since 2026-12-01T10:00:00Z, 512 MiB held without a listed process'],
];

test('event messages: each type in Chinese, English unchanged, unknown wording kept', async () => {
  const { page, context } = await openPage({ locale: 'en-US' });
  const texts = (code) => page.evaluate(async ([c, evs]) => {
    const m = await import('/js/i18n.js');
    const { eventText } = await import('/js/event_text.js');
    m.setLang(c);
    return evs.map(([type, message]) => eventText({ type, message }));
  }, [code, EVENTS]);
  try {
    const en = await texts('en');
    EVENTS.forEach(([type, msg], i) => {
      if (type === 'gpu_idle') assert.match(en[i], /^GPU 1 .*on srv-a idle since \S.*\d/, en[i]);
      else assert.equal(en[i], msg, type);
    });
    assert.match(en[10], /, held by alice \(2 processes\), a user the agent cannot see \(1 process\) and 3 more$/);
    const zh = await texts('zh-CN');
    EVENTS.forEach(([type, msg], i) => {
      assert.match(zh[i], CJK, `${type} in Chinese: ${zh[i]}`);
      assert.ok(zh[i].includes('srv-a'), `${type} keeps the server name: ${zh[i]}`);
      assert.doesNotMatch(zh[i], /\b(Server|went|online|recovered|held by|processes?|idle since|more)\b/, `${type}: ${zh[i]}`);
    });
    assert.ok(zh[0].endsWith('Connection refused'), 'the agent error is kept as it came');
    assert.ok(zh[6].includes('sha256//AAAA') && zh[4].includes('127.0.0.1:9109'));
    assert.ok(zh[8].includes('NVIDIA A100') && zh[8].includes('fell off the bus'));
    assert.match(zh[10], /alice（2 个进程）、代理看不到的用户（1 个进程） 等另外 3 位用户$/);
    assert.ok(zh[11].includes('512 MiB'));
    const odd = await page.evaluate(async () => {
      const { eventText } = await import('/js/event_text.js');
      return [eventText({ type: 'server_up', message: 'something else' }), eventText({ type: 'new_type', message: 'x' }),
        eventText({ type: 'gpu_idle', message: 'GPU 1 on srv-a idle since 2026-12-01T10:00:00Z, held by ???' })];
    });
    assert.deepEqual(odd, ['something else', 'x', 'GPU 1 on srv-a idle since 2026-12-01T10:00:00Z, held by ???']);
  } finally {
    await context.close();
  }
});

test('the events page shows a real event in Chinese, the stored text as its tooltip', async () => {
  const r = await ctx.agg.api('POST', '/api/servers', { name: 'srv-ev-zh', host: '127.0.0.1', agent_port: 9, token: 'tok-ev-zh-0123456789', enabled: false, tls: false });
  assert.equal(r.status, 201, r.text);
  const { page, context } = await openPage({ locale: 'zh-CN' });
  try {
    await page.goto(`${ctx.agg.base}/#/events`);
    const row = page.locator('tr[data-type=server_added]', { hasText: 'srv-ev-zh' }).first();
    await row.waitFor({ timeout: 15000 });
    const cell = row.locator('.ev-message');
    assert.equal(await cell.innerText(), '已添加服务器 srv-ev-zh（127.0.0.1:9）');
    assert.match(await cell.getAttribute('title'), /^Server srv-ev-zh added \(127\.0\.0\.1:9\)$/);
  } finally {
    await context.close();
  }
});

test('no page errors', async () => {
  assert.deepEqual(ctx.pageErrors, []);
});

await run({ before: setup, after: teardown });
