// SPDX-License-Identifier: MIT
// GPU usage (#/usage?range=today|7d|30d|custom&from=YYYY-MM-DD&to=YYYY-MM-DD&user=): who used
// how many GPU-hours in the range and how busy those GPUs were. Totals; GPU-hours per user as
// bars whose dark part is the busy time (efficiency beside it); a user × server table; the
// daily GPU-hours of one user (or of everyone) as a uPlot bar chart; "Download CSV" of the same
// selection. Days are the browser's local days; the current hour is included and marked.
import { NetworkError, api } from '../api.js';
import { h, setText } from '../dom.js';
import { fmtNumber, fmtPct, fmtTime, fmtTimeShort, t } from '../i18n.js';
import { replaceQuery } from '../route.js';
import { emptyState, errorAlert, markRefreshed, pageHeader, startPoller } from '../ui.js';
import { createDailyChart } from '../usage_chart.js';

const RANGES = ['today', '7d', '30d', 'custom'];
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const MAX_DAYS = 400;
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function localDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function midnight(daysAgo) {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  d.setDate(d.getDate() - daysAgo);
  return d;
}

function parseDate(s) {
  if (!DATE_RE.test(s || '')) return null;
  const [y, m, d] = s.split('-').map(Number);
  const v = new Date(y, m - 1, d);
  return v.getFullYear() === y && v.getMonth() === m - 1 ? v : null;
}

// [fromS, toS) of a range in local days; null for a bad custom range.
export function rangeBounds(range, fromText, toText) {
  const now = Math.ceil(Date.now() / 1000);
  if (range === 'today') return [midnight(0).getTime() / 1000, now];
  if (range === '30d') return [midnight(29).getTime() / 1000, now];
  if (range === 'custom') {
    const f = parseDate(fromText), e = parseDate(toText);
    if (!f || !e || f > e) return null;
    e.setDate(e.getDate() + 1); // the end date is inclusive
    if ((e - f) / 86400000 > MAX_DAYS) return null;
    return [f.getTime() / 1000, e.getTime() / 1000];
  }
  return [midnight(6).getTime() / 1000, now];
}

function iso(s) {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Minutes east of UTC in whole hours (the server's rows are hourly).
function tzOffset() {
  return Math.round(-new Date().getTimezoneOffset() / 60) * 60;
}

function hoursText(v) {
  return fmtNumber(v, v < 10 ? 2 : 1);
}

function userLabel(u) {
  return u === '(unknown)' ? h('span', { class: 'text-secondary', title: t('use.unknown_user'), text: u }) : u;
}

function statCard(label, cls) {
  const value = h('div', { class: `h1 mb-0 ${cls}` });
  return {
    el: h('div', { class: 'col-6 col-md-3' }, h('div', { class: 'card card-sm' }, h('div', { class: 'card-body' },
      h('div', { class: 'subheader', text: label }), value))),
    set: (v) => setText(value, v),
  };
}

export function mount(root, { query }) {
  document.title = `${t('use.title')} · lanmon`;
  const state = {
    range: RANGES.includes(query.get('range')) ? query.get('range') : '7d',
    from: query.get('from') || localDate(midnight(6)),
    to: query.get('to') || localDate(midnight(0)),
    user: query.get('user') || '',
  };

  const csvLink = h('a', { class: 'btn btn-outline-primary', id: 'usage-csv', download: '', text: t('use.csv') });
  const rangeBtns = RANGES.map((r) => h('button', {
    type: 'button', class: 'btn', dataset: { range: r }, text: t(`use.range.${r}`),
    on: { click: () => { state.range = r; syncControls(); if (r !== 'custom') reload(); } },
  }));
  const fromIn = h('input', { type: 'date', class: 'form-control', id: 'usage-from', value: state.from, 'aria-label': t('use.from') });
  const toIn = h('input', { type: 'date', class: 'form-control', id: 'usage-to', value: state.to, 'aria-label': t('use.to') });
  const applyBtn = h('button', {
    type: 'button', class: 'btn btn-primary', id: 'usage-apply', text: t('use.apply'),
    on: { click: () => { state.from = fromIn.value; state.to = toIn.value; reload(); } },
  });
  const custom = h('div', { class: 'd-flex flex-wrap align-items-center gap-2', id: 'usage-custom' },
    h('label', { class: 'form-label mb-0', htmlFor: 'usage-from', text: t('use.from') }), fromIn,
    h('label', { class: 'form-label mb-0', htmlFor: 'usage-to', text: t('use.to') }), toIn, applyBtn);
  const controls = h('div', { class: 'd-flex flex-wrap align-items-center gap-3 mb-3' },
    h('div', { class: 'btn-group', role: 'group', 'aria-label': t('use.range') }, rangeBtns), custom);

  const cTotal = statCard(t('use.total'), 'usage-total');
  const cBusy = statCard(t('use.busy'), 'usage-busy');
  const cEff = statCard(t('use.efficiency'), 'usage-eff');
  const cUsers = statCard(t('use.users'), 'usage-users');
  const partialNote = h('div', { class: 'small text-secondary mb-2', id: 'usage-partial', hidden: true, text: t('use.partial') });

  const bars = h('div', { class: 'usage-bars', id: 'usage-bars' });
  const barsCard = h('div', { class: 'card mb-3' }, h('div', { class: 'card-header' },
    h('div', {}, h('h3', { class: 'card-title', text: t('use.by_user') }),
      h('div', { class: 'card-subtitle small text-secondary mt-1', text: t('use.by_user_hint') }))),
  h('div', { class: 'card-body' }, bars));
  const daily = createDailyChart();
  const allBtn = h('button', { type: 'button', class: 'btn btn-sm btn-ghost-primary', id: 'usage-all-users', text: t('use.show_all'), on: { click: () => selectUser('') } });
  const dailyCard = h('div', { class: 'card mb-3' }, h('div', { class: 'card-body' }, daily.el, h('div', { class: 'mt-2' }, allBtn)));
  const tbody = h('tbody');
  const cols = ['user', 'server', 'gpu_hours', 'busy_hours', 'efficiency', 'mem', 'max_gpus', 'processes', 'first_seen', 'last_seen'];
  const table = h('div', { class: 'card mb-3' }, h('div', { class: 'card-header' }, h('h3', { class: 'card-title', text: t('use.table') })),
    h('div', { class: 'table-responsive' }, h('table', { class: 'table table-vcenter card-table usage-table', id: 'usage-table' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: /hours|efficiency|mem|max|processes/.test(c) ? 'text-end' : '', text: t(`use.col.${c}`) })))),
      tbody)));
  const errSlot = h('div');
  const emptySlot = h('div');
  root.append(pageHeader(t('use.title'), csvLink), controls, errSlot,
    h('div', { class: 'row row-cards mb-2' }, cTotal.el, cBusy.el, cEff.el, cUsers.el), partialNote, emptySlot,
    barsCard, dailyCard, table);

  function syncControls() {
    for (const b of rangeBtns) b.className = `btn ${b.dataset.range === state.range ? 'btn-primary' : 'btn-outline-primary'}`;
    for (const b of rangeBtns) b.setAttribute('aria-pressed', String(b.dataset.range === state.range));
    // d-flex would win over the hidden attribute
    custom.classList.toggle('d-none', state.range !== 'custom');
  }

  function selectUser(u) {
    state.user = u;
    saveQuery();
    loadDaily();
    for (const r of bars.querySelectorAll('.usage-bar-row')) r.classList.toggle('active', r.dataset.user === u);
  }

  function saveQuery() {
    replaceQuery({ range: state.range, from: state.range === 'custom' ? state.from : '', to: state.range === 'custom' ? state.to : '', user: state.user });
  }

  function barRow(r, max) {
    const w = max > 0 ? (100 * r.gpu_hours) / max : 0;
    const busy = r.gpu_hours > 0 ? (100 * r.busy_gpu_hours) / r.gpu_hours : 0;
    return h('button', {
      type: 'button', class: `usage-bar-row${r.user === state.user ? ' active' : ''}`, dataset: { user: r.user },
      title: `${r.user}: ${t('use.hours', { n: hoursText(r.gpu_hours) })}, ${t('use.busy')} ${t('use.hours', { n: hoursText(r.busy_gpu_hours) })}`,
      on: { click: () => selectUser(r.user) },
    },
    h('span', { class: 'usage-bar-user text-truncate' }, userLabel(r.user)),
    h('span', { class: 'usage-bar-track' }, h('span', { class: 'usage-bar-total', style: `width:${w.toFixed(2)}%` },
      h('span', { class: 'usage-bar-busy', style: `width:${busy.toFixed(2)}%` }))),
    h('span', { class: 'usage-bar-value text-nowrap' }, t('use.hours', { n: hoursText(r.gpu_hours) }),
      h('span', { class: 'text-secondary ms-2', text: fmtPct(r.efficiency_pct) })));
  }

  function tableRow(r) {
    const server = r.server_deleted
      ? h('span', {}, r.server_name, h('span', { class: 'badge bg-secondary-lt ms-1', title: t('use.deleted_title'), text: t('use.deleted') }))
      : h('a', { href: `#/servers/${r.server_id}`, text: r.server_name });
    const num = (v) => h('td', { class: 'text-end font-monospace', text: v });
    return h('tr', { dataset: { user: r.user, server: r.server_name } },
      h('td', {}, h('a', { href: '#', on: { click: (e) => { e.preventDefault(); selectUser(r.user); } } }, userLabel(r.user))),
      h('td', {}, server), num(hoursText(r.gpu_hours)), num(hoursText(r.busy_gpu_hours)), num(fmtPct(r.efficiency_pct)),
      num(fmtNumber(r.gpu_mem_gb_hours, 1)), num(String(r.max_gpus)), num(String(r.processes)),
      h('td', { class: 'text-nowrap', text: fmtTimeShort(r.first_seen), title: fmtTime(r.first_seen) }),
      h('td', { class: 'text-nowrap', text: fmtTimeShort(r.last_seen), title: fmtTime(r.last_seen) }));
  }

  let bounds = null;
  let seq = 0;

  async function loadDaily() {
    if (!bounds) return;
    const my = seq;
    const q = { from: iso(bounds[0]), to: iso(bounds[1]), bucket: '1d', tz_offset: tzOffset() };
    if (state.user) q.user = state.user;
    allBtn.hidden = !state.user;
    try {
      const resp = await api.usageSeries(q);
      if (my === seq) daily.set(resp, bounds[0], bounds[1], state.user);
    } catch (e) {
      if (!(e instanceof NetworkError)) daily.setError(e.message);
    }
  }

  async function refresh() {
    bounds = rangeBounds(state.range, state.from, state.to);
    if (!bounds) {
      errSlot.replaceChildren(h('div', { class: 'alert alert-warning', role: 'alert', text: t('use.bad_range') }));
      return;
    }
    const my = ++seq;
    const q = { from: iso(bounds[0]), to: iso(bounds[1]) };
    csvLink.href = `/api/usage.csv?${new URLSearchParams({ ...q, group_by: 'user,server' })}`;
    try {
      const [byUser, byBoth] = await Promise.all([api.usage(q), api.usage({ ...q, group_by: 'user,server' })]);
      if (my !== seq) return;
      errSlot.replaceChildren();
      cTotal.set(hoursText(byUser.total.gpu_hours));
      cBusy.set(hoursText(byUser.total.busy_gpu_hours));
      cEff.set(fmtPct(byUser.total.efficiency_pct));
      cUsers.set(String(byUser.rows.length));
      partialNote.hidden = !byUser.partial;
      const max = byUser.rows.reduce((m, r) => Math.max(m, r.gpu_hours), 0);
      bars.replaceChildren(...byUser.rows.map((r) => barRow(r, max)));
      const rows = [...byBoth.rows].sort((a, b) => b.gpu_hours - a.gpu_hours || collator.compare(a.user, b.user) || collator.compare(a.server_name, b.server_name));
      tbody.replaceChildren(...rows.map(tableRow));
      emptySlot.replaceChildren(...(byUser.rows.length ? [] : [emptyState(t('use.empty'))]));
      barsCard.hidden = table.hidden = !byUser.rows.length;
      await loadDaily();
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
    } finally {
      markRefreshed();
    }
  }

  let poller = null;
  function reload() {
    saveQuery();
    if (poller) poller.stop();
    poller = startPoller(refresh, 60000);
  }

  syncControls();
  reload();
  return {
    unmount: () => {
      if (poller) poller.stop();
      daily.destroy();
    },
  };
}
