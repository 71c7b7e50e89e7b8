// SPDX-License-Identifier: MIT
// GPUs (#/gpus?state=&sort=&q=&server=): every GPU of the fleet in one table — server, GPU,
// state, utilisation, memory, temperature, who is on it and since when — with "N of M GPUs
// free" in the header, a "free only" switch, state buttons, a search over servers, GPUs and
// users, and sorting. On a phone each row folds into a small block. Refreshed every 5 s with
// in-place updates.
import { NetworkError, api } from '../api.js';
import { h, icon, setAttr, setText, syncKeyed } from '../dom.js';
import { fmtNumber, t } from '../i18n.js';
import { GPU_STATES, gpuStateBadge, memPct, memText, sinceText, sinceTitle, updateGpuStateBadge, usersNodes, usersOf } from '../gpu_ui.js';
import { replaceQuery } from '../route.js';
import { emptyState, errorAlert, markRefreshed, pageHeader, startPoller, usageBar } from '../ui.js';

const SORTS = ['server', 'state', 'util', 'mem', 'since'];
const STATE_ORDER = { free: 0, idle: 1, busy: 2, error: 3, unknown: 4 };
const STATE_BG = { free: 'bg-success', busy: 'bg-primary', idle: 'bg-warning', error: 'bg-danger', unknown: 'bg-secondary' };
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function keyOf(g) {
  return `${g.server_id}:${g.index}`;
}

function sorter(key) {
  const byServer = (a, b) => collator.compare(a.server_name, b.server_name) || a.server_id - b.server_id || a.index - b.index;
  const num = (v) => (v === null || v === undefined ? -Infinity : v);
  const freeMem = (g) => (g.mem_total_mb === null || g.mem_used_mb === null ? null : g.mem_total_mb - g.mem_used_mb);
  switch (key) {
    case 'state':
      return (a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || byServer(a, b);
    case 'util':
      return (a, b) => num(b.util_pct) - num(a.util_pct) || byServer(a, b);
    case 'mem':
      return (a, b) => num(freeMem(b)) - num(freeMem(a)) || byServer(a, b);
    case 'since':
      return (a, b) => (Date.parse(a.state_since) || Infinity) - (Date.parse(b.state_since) || Infinity) || byServer(a, b);
    default:
      return byServer;
  }
}

function matches(g, q) {
  if (!q) return true;
  const hay = [g.server_name, g.name, g.uuid, ...(g.users || []), ...(g.processes || []).map((p) => p.command)]
    .filter(Boolean).join('\n').toLowerCase();
  return hay.includes(q);
}

function cell(label, cls, ...children) {
  return h('td', { class: cls, dataset: { label } }, ...children);
}

function createRow(g) {
  const server = h('a', { class: 'gpu-server text-reset fw-bold' });
  const index = h('span', { class: 'gpu-index' });
  const name = h('span', { class: 'gpu-name text-secondary text-truncate' });
  const badge = gpuStateBadge();
  const stale = h('span', { class: 'badge bg-warning-lt gpu-stale ms-1', hidden: true, text: t('gpu.stale') });
  // The bars' labels show only on a phone, where the column headers are hidden.
  const util = usageBar(t('gpu.short.util'), 'gpu-util');
  const mem = usageBar(t('gpu.short.mem'), 'gpu-mem');
  const temp = h('span', { class: 'gpu-temp' });
  const users = h('div', { class: 'gpu-users' });
  const since = h('span', { class: 'gpu-since' });
  let usersKey = null;
  const el = h('tr', { class: 'gpu-row', dataset: { gpu: keyOf(g) } },
    cell(t('gpu.col.server'), 'gpu-c-server', server),
    cell(t('gpu.col.gpu'), 'gpu-c-gpu', h('div', { class: 'd-flex gap-1 min-w-0' }, index, name)),
    cell(t('gpu.col.state'), 'gpu-c-state', badge, stale),
    cell(t('gpu.col.util'), 'gpu-c-util', util.el),
    cell(t('gpu.col.mem'), 'gpu-c-mem', mem.el),
    cell(t('gpu.col.temp'), 'gpu-c-temp text-nowrap', temp),
    cell(t('gpu.col.users'), 'gpu-c-users', users),
    cell(t('gpu.col.since'), 'gpu-c-since text-nowrap', since));
  return {
    el,
    update(x) {
      setText(server, x.server_name);
      setAttr(server, 'href', `#/servers/${x.server_id}`);
      setText(index, `#${x.index}`);
      setText(name, x.name || '');
      setAttr(name, 'title', x.uuid || null);
      updateGpuStateBadge(badge, x.state, x.state_reason || x.error);
      setAttr(el, 'data-state', x.state);
      el.classList.toggle('stale', Boolean(x.stale));
      stale.hidden = !x.stale;
      util.set(x.util_pct);
      mem.set(memPct(x), memText(x));
      setText(temp, x.temp_c === null || x.temp_c === undefined ? t('common.none') : `${fmtNumber(x.temp_c, 0)} °C`);
      const key = JSON.stringify([usersOf(x), x.processes === null, x.processes_truncated, x.users]);
      if (key !== usersKey) {
        users.replaceChildren(...usersNodes(x));
        usersKey = key;
      }
      setText(since, sinceText(x.state_since));
      setAttr(since, 'title', sinceTitle(x.state_since));
    },
  };
}

export function mount(root, { query }) {
  document.title = `${t('gpu.title')} · lanmon`;
  const state = {
    q: query.get('q') || '',
    state: GPU_STATES.includes(query.get('state')) ? query.get('state') : '',
    sort: SORTS.includes(query.get('sort')) ? query.get('sort') : 'server',
    server: /^\d+$/.test(query.get('server') || '') ? query.get('server') : '',
    data: null,
  };
  const views = new Map();

  const summary = h('div', { class: 'gpu-summary d-flex flex-wrap align-items-center gap-2' });
  const search = h('input', {
    type: 'search', class: 'form-control', id: 'gpu-search', value: state.q, placeholder: t('gpu.search'),
    'aria-label': t('gpu.search'), autocomplete: 'off',
  });
  const freeOnly = h('input', { type: 'checkbox', class: 'form-check-input', id: 'gpu-free-only', role: 'switch', checked: state.state === 'free' });
  const sortSel = h('select', { class: 'form-select', id: 'gpu-sort', 'aria-label': t('ov.sort') },
    SORTS.map((s) => h('option', { value: s, selected: s === state.sort, text: `${t('ov.sort')}: ${t(`gpu.sort.${s}`)}` })));
  const serverChip = h('div', { class: 'mb-2', hidden: true });
  const controls = h('div', { class: 'row g-2 mb-2 align-items-center' },
    h('div', { class: 'col-12 col-md-5' }, h('div', { class: 'input-icon' },
      h('span', { class: 'input-icon-addon' }, icon('search')), search)),
    h('div', { class: 'col-6 col-md-3' }, h('label', { class: 'form-check form-switch mb-0' }, freeOnly,
      h('span', { class: 'form-check-label', text: t('gpu.free_only') }))),
    h('div', { class: 'col-6 col-md-4' }, sortSel));
  const errSlot = h('div');
  const tbody = h('tbody');
  const table = h('div', { class: 'card' }, h('div', { class: 'table-responsive' },
    h('table', { class: 'table table-vcenter card-table gpu-table', id: 'gpu-table' },
      h('thead', null, h('tr', null, ['server', 'gpu', 'state', 'util', 'mem', 'temp', 'users', 'since']
        .map((c) => h('th', { class: `gpu-c-${c}`, text: t(`gpu.col.${c}`) })))),
      tbody)));
  const emptySlot = h('div');

  root.append(pageHeader(t('gpu.title'), summary), controls, serverChip, errSlot, table, emptySlot);

  function syncQuery() {
    replaceQuery({ q: state.q.trim(), state: state.state, sort: state.sort === 'server' ? '' : state.sort, server: state.server });
  }
  function onFilter() {
    state.q = search.value;
    state.sort = sortSel.value;
    syncQuery();
    render();
  }
  function setState(s) {
    state.state = s;
    freeOnly.checked = s === 'free';
    syncQuery();
    render();
  }
  search.addEventListener('input', onFilter);
  sortSel.addEventListener('change', onFilter);
  freeOnly.addEventListener('change', () => setState(freeOnly.checked ? 'free' : ''));

  function renderServerChip(list) {
    if (!state.server) {
      serverChip.hidden = true;
      return;
    }
    const any = list.find((g) => String(g.server_id) === state.server);
    serverChip.hidden = false;
    serverChip.replaceChildren(h('span', { class: 'badge bg-blue-lt gpu-server-filter' },
      t('gpu.only_server', { name: any ? any.server_name : `#${state.server}` }),
      h('button', {
        type: 'button', class: 'btn-close ms-2', 'aria-label': t('gpu.all_servers'),
        on: {
          click: () => {
            state.server = '';
            syncQuery();
            poller.now();
          },
        },
      })));
  }

  function renderSummary(sum) {
    const parts = [h('span', { class: 'gpu-free-total fw-bold', text: t('gpu.summary', { free: sum.free, total: sum.total }) })];
    for (const s of GPU_STATES) {
      if (!sum[s]) continue;
      parts.push(h('button', {
        type: 'button', class: `btn btn-sm ${state.state === s ? 'btn-secondary' : 'btn-outline-secondary'}`,
        dataset: { count: s }, 'aria-pressed': state.state === s ? 'true' : 'false',
        on: { click: () => setState(state.state === s ? '' : s) },
      }, h('span', { class: `badge ${STATE_BG[s]} badge-empty me-1` }), `${t(`gpu.state.${s}`)} ${sum[s]}`));
    }
    summary.replaceChildren(...parts);
  }

  function render() {
    const data = state.data;
    if (!data) return;
    renderSummary(data.summary);
    renderServerChip(data.gpus);
    const q = state.q.trim().toLowerCase();
    const shown = data.gpus.filter((g) => (!state.state || g.state === state.state) && matches(g, q));
    shown.sort(sorter(state.sort));
    syncKeyed(tbody, views, shown, keyOf, createRow);
    table.hidden = !shown.length;
    if (!data.gpus.length) {
      emptySlot.replaceChildren(emptyState(t('gpu.empty')));
    } else if (!shown.length) {
      emptySlot.replaceChildren(emptyState(t(state.state === 'free' && !q ? 'gpu.none_free' : 'gpu.no_match')));
    } else if (emptySlot.firstChild) {
      emptySlot.replaceChildren();
    }
  }

  async function refresh() {
    try {
      state.data = await api.gpus(state.server);
      if (errSlot.firstChild) errSlot.replaceChildren();
      render();
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
    } finally {
      markRefreshed();
    }
  }

  const poller = startPoller(refresh, 5000);
  return { unmount: () => poller.stop() };
}
