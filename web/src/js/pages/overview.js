// SPDX-License-Identifier: MIT
// Overview (#/): one card per server with status, last seen, CPU/memory/disk/GPU usage, free
// and failing GPUs and failed units (an offline server's last values dimmed, marked stale);
// summary counts, filtering by status and name, sorting; refreshed every 5 s
// with in-place updates (only changed text is touched).
import { NetworkError, api } from '../api.js';
import { h, icon, setAttr, setClass, setText, syncKeyed } from '../dom.js';
import { fmtAgo, fmtMiB, fmtPct, t } from '../i18n.js';
import { replaceQuery } from '../route.js';
import { gpuCardLine, staleMarker } from '../gpu_ui.js';
import { STATUS_ORDER, emptyState, errorAlert, markRefreshed, pageHeader, startPoller, statusBadge, updateStatusBadge, usageBar } from '../ui.js';

const STATUSES = ['online', 'degraded', 'offline', 'disabled'];
const SORTS = ['name', 'status', 'cpu', 'gpu'];
const STATUS_BG = { online: 'bg-success', degraded: 'bg-warning', offline: 'bg-danger', disabled: 'bg-secondary' };

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function sorter(key) {
  const byName = (a, b) => collator.compare(a.name, b.name) || a.id - b.id;
  const num = (v) => (v === null || v === undefined ? -1 : v);
  switch (key) {
    case 'status':
      return (a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || byName(a, b);
    case 'cpu':
      return (a, b) => num(b.latest && b.latest.cpu_pct) - num(a.latest && a.latest.cpu_pct) || byName(a, b);
    case 'gpu':
      return (a, b) => num(b.latest && b.latest.gpu_util_pct) - num(a.latest && a.latest.gpu_util_pct) || byName(a, b);
    default:
      return byName;
  }
}

function createCard(s) {
  const stripe = h('div', { class: 'card-status-start' });
  const name = h('a', { class: 'server-name text-reset text-truncate', href: `#/servers/${s.id}` });
  const badge = statusBadge();
  const host = h('div', { class: 'server-host text-secondary small text-truncate' });
  const seen = h('div', { class: 'server-seen text-secondary small' });
  const err = h('div', { class: 'server-error small text-danger text-truncate', hidden: true });
  const noSample = h('div', { class: 'text-secondary small mt-2', hidden: true, text: t('ov.no_sample') });
  const cpu = usageBar(t('ov.cpu'), 'cpu');
  const mem = usageBar(t('ov.mem'), 'mem');
  const disk = usageBar(t('ov.disk'), 'disk');
  setAttr(disk.label, 'title', t('ov.disk_first'));
  const gpu = usageBar(t('ov.gpu'), 'gpu');
  const gpuMem = usageBar(t('ov.gpu_mem'), 'gpu-mem');
  const failed = h('span', { class: 'badge', dataset: { metric: 'failed-units' } });
  const gpuLine = gpuCardLine();
  const metrics = h('div', { class: 'server-metrics mt-2' }, cpu.el, mem.el, disk.el, gpu.el, gpuMem.el, gpuLine.el,
    h('div', { class: 'd-flex justify-content-between align-items-center mt-1' },
      h('span', { class: 'text-secondary', text: t('ov.failed_units') }), failed));
  const stale = staleMarker(metrics);
  const card = h('div', { class: 'card server-card' }, stripe,
    h('div', { class: 'card-body' },
      h('div', { class: 'd-flex align-items-start gap-2' },
        h('h2', { class: 'card-title mb-0 flex-grow-1 text-truncate' }, name), badge),
      host, seen, err, noSample, stale.el, metrics));
  const el = h('div', { class: 'col-sm-6 col-lg-4 col-xl-3 server-col', dataset: { serverId: s.id } }, card);

  return {
    el,
    update(x) {
      setText(name, x.name);
      setAttr(name, 'href', `#/servers/${x.id}`);
      setAttr(el, 'data-status', x.status);
      updateStatusBadge(badge, x.status, x.last_error);
      setClass(stripe, `card-status-start ${STATUS_BG[x.status] || 'bg-secondary'}`);
      setText(host, `${x.host}:${x.agent_port}`);
      setText(seen, t('ov.last_seen', { ago: fmtAgo(x.last_seen_at) }));
      const showErr = Boolean(x.last_error) && x.status !== 'disabled';
      err.hidden = !showErr;
      setText(err, showErr ? x.last_error : '');
      setAttr(err, 'title', showErr ? x.last_error : null);
      const l = x.latest;
      noSample.hidden = Boolean(l);
      metrics.hidden = !l;
      stale.update(x.status === 'offline' && Boolean(l), x.last_seen_at);
      if (!l) return;
      gpuLine.update(x);
      cpu.set(l.cpu_pct);
      mem.set(l.mem_used_pct);
      disk.set(l.disk_used_pct);
      const n = l.gpu_count || 0;
      if (n > 0) {
        gpu.set(l.gpu_util_pct, `${fmtPct(l.gpu_util_pct)} · ${t('ov.gpu_count', { n })}`);
        const pct = l.gpu_mem_total_mb ? (100 * l.gpu_mem_used_mb) / l.gpu_mem_total_mb : null;
        gpuMem.set(pct, `${fmtMiB(l.gpu_mem_used_mb)} / ${fmtMiB(l.gpu_mem_total_mb)}`);
      } else {
        gpu.set(null, t('ov.no_gpu'));
        gpuMem.set(null, t('common.none'));
      }
      const f = l.services_failed_count || 0;
      setText(failed, String(f));
      setClass(failed, `badge ${f > 0 ? 'bg-danger text-danger-fg' : 'bg-success-lt'}`);
    },
  };
}

export function mount(root, { query }) {
  document.title = `${t('nav.overview')} · lanmon`;
  const state = {
    q: query.get('q') || '',
    status: STATUSES.includes(query.get('status')) ? query.get('status') : '',
    sort: SORTS.includes(query.get('sort')) ? query.get('sort') : 'name',
    list: null,
  };
  const views = new Map();

  const summary = h('div', { class: 'ov-summary d-flex flex-wrap align-items-center gap-2' });
  const search = h('input', {
    type: 'search', class: 'form-control', id: 'ov-search', value: state.q, placeholder: t('ov.search'),
    'aria-label': t('ov.search'), autocomplete: 'off',
  });
  const statusSel = h('select', { class: 'form-select', id: 'ov-status', 'aria-label': t('ov.filter_status') },
    h('option', { value: '', text: `${t('ov.filter_status')}: ${t('common.all')}` }),
    STATUSES.map((s) => h('option', { value: s, selected: s === state.status, text: t(`status.${s}`) })));
  const sortSel = h('select', { class: 'form-select', id: 'ov-sort', 'aria-label': t('ov.sort') },
    SORTS.map((s) => h('option', { value: s, selected: s === state.sort, text: `${t('ov.sort')}: ${t(`ov.sort.${s}`)}` })));
  const controls = h('div', { class: 'row g-2 mb-3' },
    h('div', { class: 'col-12 col-md-5' }, h('div', { class: 'input-icon' },
      h('span', { class: 'input-icon-addon' }, icon('search')), search)),
    h('div', { class: 'col-6 col-md-3' }, statusSel),
    h('div', { class: 'col-6 col-md-4' }, sortSel));
  const errSlot = h('div');
  const grid = h('div', { class: 'row row-cards', id: 'server-grid' });
  const emptySlot = h('div');

  root.append(pageHeader(t('ov.title'), summary), controls, errSlot, grid, emptySlot);

  function onFilter() {
    state.q = search.value;
    state.status = statusSel.value;
    state.sort = sortSel.value;
    replaceQuery({ q: state.q.trim(), status: state.status, sort: state.sort === 'name' ? '' : state.sort });
    render();
  }
  search.addEventListener('input', onFilter);
  statusSel.addEventListener('change', onFilter);
  sortSel.addEventListener('change', onFilter);

  function renderSummary(list) {
    const counts = { online: 0, degraded: 0, offline: 0, disabled: 0 };
    for (const s of list) if (s.status in counts) counts[s.status]++;
    const online = list.filter((s) => s.online).length;
    const parts = [h('span', { class: 'ov-online-total fw-bold', text: t('ov.summary', { online, total: list.length }) })];
    for (const st of STATUSES) {
      if (!counts[st]) continue;
      parts.push(h('button', {
        type: 'button', class: `btn btn-sm ${state.status === st ? 'btn-secondary' : 'btn-outline-secondary'}`,
        dataset: { count: st }, 'aria-pressed': state.status === st ? 'true' : 'false',
        on: { click: () => { statusSel.value = state.status === st ? '' : st; onFilter(); } },
      }, h('span', { class: `badge ${STATUS_BG[st]} badge-empty me-1` }), `${t(`status.${st}`)} ${counts[st]}`));
    }
    summary.replaceChildren(...parts);
  }

  function render() {
    const list = state.list;
    if (!list) return;
    renderSummary(list);
    const q = state.q.trim().toLowerCase();
    const shown = list.filter((s) => (!state.status || s.status === state.status) &&
      (!q || s.name.toLowerCase().includes(q) || s.host.toLowerCase().includes(q)));
    shown.sort(sorter(state.sort));
    syncKeyed(grid, views, shown, (s) => s.id, createCard);
    if (!list.length) {
      emptySlot.replaceChildren(emptyState(t('ov.empty'), h('a', { class: 'btn btn-primary', href: '#/manage/add' }, icon('plus'), t('ov.empty_add'))));
    } else if (!shown.length) {
      emptySlot.replaceChildren(emptyState(t('ov.no_match')));
    } else if (emptySlot.firstChild) {
      emptySlot.replaceChildren();
    }
  }

  async function refresh() {
    try {
      state.list = await api.servers();
      if (errSlot.firstChild) errSlot.replaceChildren();
      render();
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
      if (!state.list) grid.replaceChildren();
    } finally {
      markRefreshed();
    }
  }

  const poller = startPoller(refresh, 5000);
  return { unmount: () => poller.stop() };
}
