// SPDX-License-Identifier: MIT
// Overview (#/): one card per server with status, last seen, CPU/memory/disk/GPU usage, free
// and failing GPUs and failed units (an offline server's last values dimmed, marked stale);
// summary counts, filtering by status and name, sorting and paging done by the aggregator
// (GET /api/servers/summary + one page of GET /api/servers), so that a fleet of thousands
// costs a few tens of KB per 5-s refresh; cards are updated in place.
import { NetworkError, api } from '../api.js';
import { h, icon, setAttr, setClass, setText, syncKeyed } from '../dom.js';
import { fmtAgo, fmtMiB, fmtNumber, fmtPct, t } from '../i18n.js';
import { replaceQuery } from '../route.js';
import { gpuCardLine, staleMarker } from '../gpu_ui.js';
import { emptyState, errorAlert, markRefreshed, pageHeader, startPoller, statusBadge, updateStatusBadge, usageBar } from '../ui.js';
import { tlsBadge } from '../tls.js';

const STATUSES = ['online', 'degraded', 'offline', 'disabled'];
const SORTS = ['name', 'status', 'cpu', 'gpu'];
const STATUS_BG = { online: 'bg-success', degraded: 'bg-warning', offline: 'bg-danger', disabled: 'bg-secondary' };
export const PAGE_SIZE = 48;
const FIELDS = 'id,name,host,agent_port,status,online,last_error,last_seen_at,latest,tls';
const SEARCH_DELAY_MS = 250;

function createCard(s) {
  const stripe = h('div', { class: 'card-status-start' });
  const name = h('a', { class: 'server-name text-reset text-truncate', href: `#/servers/${s.id}` });
  const badge = statusBadge();
  const tlsSlot = h('span', { class: 'flex-shrink-0 small' });
  let tlsShown = null;
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
      h('div', { class: 'd-flex align-items-center gap-2 min-w-0' }, host, tlsSlot), seen, err, noSample, stale.el, metrics));
  const el = h('div', { class: 'col-sm-6 col-lg-4 col-xl-3 server-col', dataset: { serverId: s.id } }, card);

  return {
    el,
    update(x) {
      setText(name, x.name);
      setAttr(name, 'href', `#/servers/${x.id}`);
      setAttr(el, 'data-status', x.status);
      updateStatusBadge(badge, x.status, x.last_error);
      if (tlsShown !== x.tls_state) { // only "plain HTTP" and "key changed" on the cards
        tlsShown = x.tls_state;
        tlsSlot.replaceChildren(tlsBadge(x, { compact: true }) || '');
      }
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
  const page0 = Number.parseInt(query.get('page') || '1', 10);
  const state = {
    q: query.get('q') || '',
    status: STATUSES.includes(query.get('status')) ? query.get('status') : '',
    sort: SORTS.includes(query.get('sort')) ? query.get('sort') : 'name',
    page: Number.isFinite(page0) && page0 > 0 ? page0 : 1,
    list: null,
    total: 0,
    summary: null,
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
  // (hidden on the nav itself: a d-flex class would override the attribute)
  const pager = h('nav', { class: 'ov-pager mt-3', 'aria-label': t('ov.pages'), hidden: true });

  root.append(pageHeader(t('ov.title'), summary), controls, errSlot, grid, emptySlot, pager);

  let poller = null;
  function apply(resetPage) {
    state.q = search.value;
    state.status = statusSel.value;
    state.sort = sortSel.value;
    if (resetPage) state.page = 1;
    replaceQuery({
      q: state.q.trim(), status: state.status, sort: state.sort === 'name' ? '' : state.sort,
      page: state.page > 1 ? String(state.page) : '',
    });
    if (poller) poller.now();
  }
  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => apply(true), SEARCH_DELAY_MS);
  });
  statusSel.addEventListener('change', () => apply(true));
  sortSel.addEventListener('change', () => apply(true));
  function goPage(p) {
    state.page = p;
    apply(false);
    window.scrollTo({ top: 0 });
  }

  function renderSummary(sum) {
    const parts = [h('span', { class: 'ov-online-total fw-bold', text: t('ov.summary', { online: fmtNumber(sum.online, 0), total: fmtNumber(sum.total, 0) }) })];
    for (const st of STATUSES) {
      const n = sum.status[st] || 0;
      if (!n) continue;
      parts.push(h('button', {
        type: 'button', class: `btn btn-sm ${state.status === st ? 'btn-secondary' : 'btn-outline-secondary'}`,
        dataset: { count: st }, 'aria-pressed': state.status === st ? 'true' : 'false',
        on: { click: () => { statusSel.value = state.status === st ? '' : st; apply(true); } },
      }, h('span', { class: `badge ${STATUS_BG[st]} badge-empty me-1` }), `${t(`status.${st}`)} ${fmtNumber(n, 0)}`));
    }
    summary.replaceChildren(...parts);
  }

  function pageButton(label, target, disabled, key) {
    return h('button', {
      type: 'button', class: 'btn btn-sm btn-outline-secondary', disabled, dataset: { page: key },
      'aria-label': label, title: label, on: { click: () => goPage(target) },
    }, icon(key === 'prev' ? 'back' : 'next'));
  }

  function renderPager() {
    const pages = Math.max(1, Math.ceil(state.total / PAGE_SIZE));
    pager.hidden = state.total <= PAGE_SIZE;
    if (pager.hidden) return;
    const from = (state.page - 1) * PAGE_SIZE + 1;
    const to = Math.min(state.total, state.page * PAGE_SIZE);
    pager.replaceChildren(h('div', { class: 'd-flex flex-wrap align-items-center justify-content-between gap-2' },
      h('span', { class: 'ov-page-info text-secondary', text: t('ov.page_info', { from: fmtNumber(from, 0), to: fmtNumber(to, 0), total: fmtNumber(state.total, 0) }) }),
      h('div', { class: 'd-flex align-items-center gap-2' },
        pageButton(t('ov.prev'), state.page - 1, state.page <= 1, 'prev'),
        h('span', { class: 'ov-page-no', text: t('ov.page_of', { page: fmtNumber(state.page, 0), pages: fmtNumber(pages, 0) }) }),
        pageButton(t('ov.next'), state.page + 1, state.page >= pages, 'next'))));
  }

  function render() {
    if (!state.list || !state.summary) return;
    renderSummary(state.summary);
    syncKeyed(grid, views, state.list, (s) => s.id, createCard);
    renderPager();
    if (!state.summary.total) {
      emptySlot.replaceChildren(emptyState(t('ov.empty'), h('a', { class: 'btn btn-primary', href: '#/manage/add' }, icon('plus'), t('ov.empty_add'))));
    } else if (!state.list.length) {
      emptySlot.replaceChildren(emptyState(t('ov.no_match')));
    } else if (emptySlot.firstChild) {
      emptySlot.replaceChildren();
    }
  }

  async function refresh() {
    try {
      const q = { q: state.q.trim(), status: state.status, sort: state.sort, fields: FIELDS, limit: PAGE_SIZE, offset: (state.page - 1) * PAGE_SIZE };
      const [sum, pg] = await Promise.all([api.summary(), api.serverPage(q)]);
      const pages = Math.max(1, Math.ceil(pg.total / PAGE_SIZE));
      if (state.page > pages) { /* servers went away: show the last page instead */
        state.page = pages;
        apply(false);
        return;
      }
      state.summary = sum;
      state.list = pg.list;
      state.total = pg.total;
      if (errSlot.firstChild) errSlot.replaceChildren();
      render();
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
      if (!state.list) grid.replaceChildren();
    } finally {
      markRefreshed();
    }
  }

  poller = startPoller(refresh, 5000);
  return {
    unmount: () => {
      clearTimeout(searchTimer);
      poller.stop();
    },
  };
}
