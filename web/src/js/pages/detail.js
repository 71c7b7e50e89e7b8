// SPDX-License-Identifier: MIT
// Server detail (#/servers/{id}?range=1h|24h|7d|30d): status and agent info, per-GPU (with
// each GPU's processes and health, detail_gpus.js), per-disk and per-unit tables, and CPU/GPU/memory/disk charts (last hour from /recent, longer
// ranges from hourly /timeseries avg + max). Refreshed every 5 s; hourly charts every minute.
import { ApiError, NetworkError, api } from '../api.js';
import { createChart } from '../charts.js';
import { h, icon, setAttr, setText } from '../dom.js';
import { fmtAgo, fmtBytes, fmtDuration, fmtMiB, fmtNumber, fmtPct, fmtTime, t } from '../i18n.js';
import { replaceQuery } from '../route.js';
import { emptyState, errorAlert, markRefreshed, pageHeader, startPoller, statusBadge, updateStatusBadge, usageBar } from '../ui.js';
import { staleMarker } from '../gpu_ui.js';
import { gpuSection } from './detail_gpus.js';
import { keyChangedAlert, shortPin, tlsBadge } from '../tls.js';

const RANGES = { '1h': 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 };
const CHARTS = [
  { metric: 'cpu_pct', title: 'det.chart.cpu' },
  { metric: 'gpu_util_pct', title: 'det.chart.gpu' },
  { metric: 'mem_used_pct', title: 'det.chart.mem' },
  { metric: 'disk_used_pct', title: 'det.chart.disk' },
];
const HOURLY_REFRESH_MS = 60000;

const UNIT_CLASS = {
  active: 'bg-success text-success-fg',
  failed: 'bg-danger text-danger-fg',
  inactive: 'bg-secondary-lt',
  activating: 'bg-warning text-warning-fg',
  deactivating: 'bg-warning text-warning-fg',
  reloading: 'bg-info text-info-fg',
};

function isoSeconds(s) {
  return new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function table(id, headers) {
  const tbody = h('tbody');
  const el = h('div', { class: 'table-responsive' },
    h('table', { class: 'table table-vcenter card-table', id },
      h('thead', null, h('tr', null, headers.map((x) => h('th', { text: x })))), tbody));
  return { el, tbody };
}

function td(text, cls) {
  return h('td', { class: cls, text });
}

export function mount(root, { params, query }) {
  const id = params[0];
  const state = {
    range: RANGES[query.get('range')] ? query.get('range') : '1h',
    chartsAt: 0,
    chartsRange: null,
    notFound: false,
  };
  document.title = `${t('det.title')} ${id} · lanmon`;

  const title = h('span', { class: 'server-title', text: `${t('det.title')} ${id}` });
  const badge = statusBadge();
  const header = pageHeader('', h('a', { class: 'btn', href: `#/manage/edit/${id}` }, icon('edit'), t('det.manage')));
  header.querySelector('.page-title').replaceChildren(title, h('span', { class: 'ms-2 d-inline-flex' }, badge));
  const errSlot = h('div');

  // Summary card: address, last seen, last error, agent info, current values.
  const addr = h('dd', { class: 'col-7' });
  const seen = h('dd', { class: 'col-7' });
  const nodeId = h('dd', { class: 'col-7' });
  const version = h('dd', { class: 'col-7' });
  const uptime = h('dd', { class: 'col-7' });
  const cpuCount = h('dd', { class: 'col-7' });
  const load = h('dd', { class: 'col-7' });
  const lastErr = h('div', { class: 'alert alert-danger mb-3', role: 'status', hidden: true });
  const tlsCell = h('dd', { class: 'col-7', id: 'det-tls' });
  const pinCell = h('dd', { class: 'col-7 font-monospace small text-break', id: 'det-pin' });
  const keySlot = h('div');
  let tlsShown = '';
  const dl = h('dl', { class: 'row mb-0' },
    h('dt', { class: 'col-5', text: t('det.address') }), addr,
    h('dt', { class: 'col-5', text: t('det.tls') }), tlsCell,
    h('dt', { class: 'col-5', text: t('det.pin') }), pinCell,
    h('dt', { class: 'col-5', text: t('det.last_seen') }), seen,
    h('dt', { class: 'col-5', text: t('det.node_id') }), nodeId,
    h('dt', { class: 'col-5', text: t('det.version') }), version,
    h('dt', { class: 'col-5', text: t('det.uptime') }), uptime,
    h('dt', { class: 'col-5', text: t('det.cpu_count') }), cpuCount,
    h('dt', { class: 'col-5', text: t('det.load') }), load);
  const cpu = usageBar(t('ov.cpu'), 'cpu');
  const mem = usageBar(t('ov.mem'), 'mem');
  const disk = usageBar(t('ov.disk_first'), 'disk');
  const gpu = usageBar(t('ov.gpu'), 'gpu');
  const gpuMem = usageBar(t('ov.gpu_mem'), 'gpu-mem');
  const failed = h('span', { class: 'badge', dataset: { metric: 'failed-units' } });
  // An offline server's last values are dimmed and marked stale, never drawn as current.
  const staleNote = h('div');
  let stale = null;

  // Charts.
  const rangeBtns = Object.keys(RANGES).map((r) => h('button', {
    type: 'button', class: 'btn', dataset: { range: r }, text: t(`det.range.${r}`),
    on: { click: () => setRange(r) },
  }));
  const charts = new Map(CHARTS.map((c) => [c.metric, createChart(t(c.title))]));
  const chartCard = h('div', { class: 'card mb-3' },
    h('div', { class: 'card-header flex-wrap gap-2' },
      h('h2', { class: 'card-title', text: t('det.history') }),
      h('div', { class: 'btn-group ms-auto', role: 'group', 'aria-label': t('det.history') }, rangeBtns)),
    h('div', { class: 'card-body' }, h('div', { class: 'row g-3' },
      CHARTS.map((c) => h('div', { class: 'col-12 col-lg-6', dataset: { chart: c.metric } }, charts.get(c.metric).el)))));

  const gpuS = gpuSection();
  const diskT = table('disk-table', [t('det.disk.mount'), t('det.disk.used'), t('det.disk.pct')]);
  const unitT = table('unit-table', [t('det.unit.name'), t('det.unit.state'), t('det.unit.sub'), t('det.unit.since')]);
  const diskEmpty = h('div', { class: 'card-body text-secondary', hidden: true, text: t('det.disk.none') });
  const unitEmpty = h('div', { class: 'card-body text-secondary', hidden: true, text: t('det.unit.none') });

  const body = h('div', { class: 'detail-body', hidden: true },
    keySlot, lastErr,
    h('div', { class: 'row row-cards mb-3' },
      h('div', { class: 'col-12 col-lg-5' }, h('div', { class: 'card h-100' },
        h('div', { class: 'card-header' }, h('h2', { class: 'card-title', text: t('det.agent') })),
        h('div', { class: 'card-body' }, dl))),
      h('div', { class: 'col-12 col-lg-7' }, h('div', { class: 'card h-100' },
        h('div', { class: 'card-body server-metrics' }, staleNote, cpu.el, mem.el, disk.el, gpu.el, gpuMem.el,
          h('div', { class: 'd-flex justify-content-between align-items-center mt-2' },
            h('span', { class: 'text-secondary', text: t('ov.failed_units') }), failed))))),
    chartCard,
    h('div', { class: 'row row-cards' },
      h('div', { class: 'col-12' }, h('div', { class: 'card' },
        h('div', { class: 'card-header' }, h('h2', { class: 'card-title', text: t('det.gpus') })), gpuS.el)),
      h('div', { class: 'col-12 col-xl-6' }, h('div', { class: 'card' },
        h('div', { class: 'card-header' }, h('h2', { class: 'card-title', text: t('det.disks') })), diskT.el, diskEmpty)),
      h('div', { class: 'col-12 col-xl-6' }, h('div', { class: 'card' },
        h('div', { class: 'card-header' }, h('h2', { class: 'card-title', text: t('det.units') })), unitT.el, unitEmpty))));
  const loading = h('div', { class: 'text-secondary', text: t('common.loading') });

  root.append(header, errSlot, loading, body);
  updateRangeButtons();

  function updateRangeButtons() {
    for (const b of rangeBtns) {
      const on = b.dataset.range === state.range;
      b.className = `btn ${on ? 'btn-primary' : ''}`;
      setAttr(b, 'aria-pressed', on ? 'true' : 'false');
    }
  }

  function setRange(r) {
    if (r === state.range) return;
    state.range = r;
    replaceQuery({ range: r === '1h' ? '' : r });
    updateRangeButtons();
    poller.now();
  }

  function renderServer(s) {
    document.title = `${s.name} · lanmon`;
    setText(title, s.name);
    updateStatusBadge(badge, s.status, s.last_error);
    setText(addr, `${s.host}:${s.agent_port}`);
    if (tlsShown !== s.tls_state) { // rebuilt only on a change: the re-pin button keeps focus
      tlsShown = s.tls_state;
      tlsCell.replaceChildren(tlsBadge(s));
      keySlot.replaceChildren(s.tls_state === 'key_changed' ? keyChangedAlert(id, () => poller.now()) : '');
    }
    setText(pinCell, s.tls_pin ? shortPin(s.tls_pin) : t('common.none'));
    setAttr(pinCell, 'title', s.tls_pin || null);
    setText(seen, s.last_seen_at ? `${fmtAgo(s.last_seen_at)} (${fmtTime(s.last_seen_at)})` : t('common.never'));
    const showErr = Boolean(s.last_error) && s.status !== 'disabled';
    lastErr.hidden = !showErr;
    setText(lastErr, showErr ? `${t('det.last_error')}: ${s.last_error}` : '');
    const a = s.agent;
    setText(nodeId, a && a.node_id ? a.node_id : t('common.none'));
    setText(version, a && a.agent_version ? a.agent_version : t('common.none'));
    setText(uptime, a ? fmtDuration(a.uptime_s) : t('common.none'));
    setText(cpuCount, a && a.cpu_count ? String(a.cpu_count) : t('common.none'));
    setText(load, a && Array.isArray(a.load) ? a.load.map((v) => fmtNumber(v, 2)).join(' / ') : t('common.none'));

    const l = s.latest;
    cpu.set(l ? l.cpu_pct : null);
    mem.set(l ? l.mem_used_pct : null);
    disk.set(l ? l.disk_used_pct : null, l && l.disk_used_pct !== null && l.disk_used_pct !== undefined
      ? `${fmtPct(l.disk_used_pct)} · ${fmtBytes(l.disk_used_bytes)} / ${fmtBytes(l.disk_total_bytes)}` : undefined);
    const n = l ? l.gpu_count || 0 : 0;
    if (n > 0) {
      gpu.set(l.gpu_util_pct, `${fmtPct(l.gpu_util_pct)} · ${t('ov.gpu_count', { n })}`);
      gpuMem.set(l.gpu_mem_total_mb ? (100 * l.gpu_mem_used_mb) / l.gpu_mem_total_mb : null,
        `${fmtMiB(l.gpu_mem_used_mb)} / ${fmtMiB(l.gpu_mem_total_mb)}`);
    } else {
      gpu.set(null, l ? t('ov.no_gpu') : t('common.none'));
      gpuMem.set(null, t('common.none'));
    }
    const f = l ? l.services_failed_count || 0 : 0;
    setText(failed, l ? String(f) : t('common.none'));
    failed.className = `badge ${f > 0 ? 'bg-danger text-danger-fg' : 'bg-success-lt'}`;

    gpuS.update(s.gpus || []);
    if (!stale) {
      stale = staleMarker(body);
      staleNote.replaceWith(stale.el);
    }
    stale.update(s.status === 'offline' && Boolean(l), s.last_seen_at);

    const disks = s.disks || [];
    diskT.tbody.replaceChildren(...disks.map((d) => {
      const bar = usageBar('', null);
      bar.set(d.used_pct);
      return h('tr', null,
        h('td', null, d.mount, d.stale ? h('span', { class: 'badge bg-warning text-warning-fg ms-2', text: t('det.disk.stale') }) : null,
          d.error ? h('div', { class: 'text-danger small', text: d.error }) : null),
        td(d.used_bytes !== null && d.used_bytes !== undefined ? `${fmtBytes(d.used_bytes)} / ${fmtBytes(d.total_bytes)}` : t('common.none')),
        h('td', { class: 'w-50' }, bar.el));
    }));
    diskT.el.hidden = !disks.length;
    diskEmpty.hidden = disks.length > 0;

    const units = s.service_states || [];
    unitT.tbody.replaceChildren(...units.map((u) => h('tr', { dataset: { unit: u.name } },
      td(u.name, 'text-nowrap'),
      h('td', null, h('span', {
        class: `badge ${UNIT_CLASS[u.active_state] || 'bg-secondary-lt'}`,
        text: u.active_state || t('det.unit.unknown'),
      }), u.error ? h('div', { class: 'text-danger small', text: u.error }) : null),
      td(u.sub_state || t('common.none')),
      h('td', { title: u.since ? fmtTime(u.since) : null, text: u.since ? `${fmtAgo(u.since)} · ${fmtTime(u.since)}` : t('common.none') }))));
    unitT.el.hidden = !units.length;
    unitEmpty.hidden = units.length > 0;
  }

  async function loadCharts() {
    const range = state.range;
    if (range !== '1h' && state.chartsRange === range && Date.now() - state.chartsAt < HOURLY_REFRESH_MS) return;
    const to = Math.floor(Date.now() / 1000);
    const from = to - RANGES[range];
    await Promise.all(CHARTS.map(async (c) => {
      const chart = charts.get(c.metric);
      try {
        if (range === '1h') {
          chart.setRecent(await api.recent(id, c.metric));
        } else {
          const [avg, max] = await Promise.all([
            api.timeseries(id, c.metric, 'avg', isoSeconds(from), isoSeconds(to)),
            api.timeseries(id, c.metric, 'max', isoSeconds(from), isoSeconds(to)),
          ]);
          chart.setHourly(avg, max, from, to);
        }
      } catch (e) {
        if (!(e instanceof NetworkError)) chart.setError(e.message);
        throw e;
      }
    }));
    state.chartsRange = range;
    state.chartsAt = Date.now();
  }

  async function refresh() {
    try {
      const s = await api.server(id);
      if (errSlot.firstChild) errSlot.replaceChildren();
      loading.remove();
      body.hidden = false;
      renderServer(s);
      await loadCharts();
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        state.notFound = true;
        poller.stop();
        loading.remove();
        body.hidden = true;
        errSlot.replaceChildren(emptyState(t('det.not_found', { id }),
          h('a', { class: 'btn btn-primary', href: '#/', text: t('common.go_overview') })));
      } else if (!(e instanceof NetworkError)) {
        errSlot.replaceChildren(errorAlert(e.message));
      }
    } finally {
      markRefreshed();
    }
  }

  const poller = startPoller(refresh, 5000);
  return {
    unmount() {
      poller.stop();
      for (const c of charts.values()) c.destroy();
    },
  };
}
