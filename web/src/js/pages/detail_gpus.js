// SPDX-License-Identifier: MIT
// The GPU part of the server detail page: one row per GPU (state, utilisation, memory,
// temperature, power) and, per GPU, a health line (ECC, row remapping, throttle reasons, fan,
// clocks, last Xid) and the table of its processes (user, PID, command, GPU memory, container,
// running for). Names and commands come from the agents: text nodes only.
import { h } from '../dom.js';
import { fmtAgo, fmtDuration, fmtMiB, fmtNumber, fmtPct, fmtTime, serverNow, t } from '../i18n.js';
import { gpuStateBadge, updateGpuStateBadge, usersNodes } from '../gpu_ui.js';

function td(text, cls) {
  return h('td', { class: cls, text });
}

function none(v) {
  return v === null || v === undefined;
}

function table(id, headers, rows) {
  return h('div', { class: 'table-responsive' },
    h('table', { class: 'table table-vcenter table-sm card-table', id },
      h('thead', null, h('tr', null, headers.map((x) => h('th', { text: x })))),
      h('tbody', null, rows)));
}

// One health item: {key, text, bad}.
function healthItems(g) {
  const hl = g.health;
  const items = [];
  if (!hl) return items;
  if (hl.ecc) {
    if (hl.ecc.mode === 'enabled') {
      items.push({
        key: 'ecc',
        text: t('det.health.ecc', { unc: hl.ecc.volatile_uncorrected ?? '?', corr: hl.ecc.volatile_corrected ?? '?' }),
        bad: hl.ecc.volatile_uncorrected > 0,
      });
    } else {
      items.push({ key: 'ecc', text: t('det.health.ecc_off') });
    }
  }
  if (hl.remapped_rows) {
    const rr = hl.remapped_rows;
    if (rr.failed) items.push({ key: 'remap', text: t('det.health.remap_failed'), bad: true });
    else if (rr.pending) items.push({ key: 'remap', text: t('det.health.remap_pending'), bad: true });
    else items.push({ key: 'remap', text: t('det.health.remap_ok', { n: (rr.corrected || 0) + (rr.uncorrected || 0) }) });
  }
  if (hl.throttle) {
    items.push(hl.throttle.length
      ? { key: 'throttle', text: t('det.health.throttle', { reasons: hl.throttle.join(', ') }), bad: true }
      : { key: 'throttle', text: t('det.health.no_throttle') });
  }
  if (!none(hl.fan_pct)) items.push({ key: 'fan', text: t('det.health.fan', { pct: fmtPct(hl.fan_pct) }) });
  if (!none(hl.sm_clock_mhz)) items.push({ key: 'clock', text: `${fmtNumber(hl.sm_clock_mhz, 0)} MHz` });
  if (!none(hl.pstate)) items.push({ key: 'pstate', text: `P${hl.pstate}` });
  if (!none(hl.power_limit_w)) items.push({ key: 'power-limit', text: t('det.health.power_limit', { w: fmtNumber(hl.power_limit_w, 0) }) });
  if (hl.xid) {
    items.push(hl.last_xid
      ? { key: 'xid', text: t('det.health.xid', { code: hl.last_xid.code, ago: fmtAgo(hl.last_xid.at) }), bad: true, title: fmtTime(hl.last_xid.at) }
      : { key: 'xid', text: t('det.health.no_xid') });
  }
  return items;
}

function healthLine(g) {
  const items = healthItems(g);
  const line = h('div', { class: 'gpu-health small', dataset: { gpuHealth: g.index } },
    h('span', { class: 'text-secondary me-1', text: `${t('det.health')}:` }));
  if (!items.length) line.append(h('span', { class: 'text-secondary', text: t('common.none') }));
  items.forEach((it, i) => {
    if (i) line.append(h('span', { class: 'text-secondary', text: ' · ' }));
    line.append(h('span', { class: it.bad ? 'text-danger fw-bold' : '', dataset: { health: it.key }, title: it.title || null, text: it.text }));
  });
  return line;
}

function runningFor(iso) {
  const ms = Date.parse(iso || '');
  return Number.isNaN(ms) ? t('common.none') : fmtDuration(Math.max(0, (serverNow() - ms) / 1000));
}

function processRow(p) {
  const user = none(p.user)
    ? h('td', null, h('span', { class: 'text-secondary', text: t('gpu.hidden_user') }),
      p.error ? h('div', { class: 'small text-secondary', text: p.error }) : null)
    : h('td', { class: 'proc-user' }, h('span', { text: p.user }),
      none(p.uid) ? null : h('span', { class: 'text-secondary small', text: ` (${p.uid})` }));
  return h('tr', { dataset: { pid: p.pid } },
    user,
    td(String(p.pid), 'text-nowrap'),
    h('td', { class: 'proc-command' }, h('code', { text: none(p.command) ? t('common.none') : p.command }),
      p.type && p.type !== 'compute' ? h('span', { class: 'badge bg-secondary-lt ms-1', text: p.type }) : null),
    td(none(p.used_mem_mb) ? t('common.none') : fmtMiB(p.used_mem_mb), 'text-nowrap'),
    td(p.container || t('common.none'), 'proc-container'),
    h('td', { class: 'text-nowrap', title: p.started_at ? fmtTime(p.started_at) : null, text: runningFor(p.started_at) }));
}

function processBlock(g) {
  const title = h('div', { class: 'd-flex flex-wrap align-items-center gap-2 mb-1' },
    h('h3', { class: 'card-title mb-0', text: t('det.proc.title', { index: g.index }) }),
    g.processes && g.processes.length ? h('span', { class: 'text-secondary small' }, ...usersNodes(g)) : null);
  let body;
  if (none(g.processes)) {
    body = h('div', { class: 'text-secondary small', text: t('det.proc.unavailable') });
  } else if (!g.processes.length) {
    body = h('div', { class: 'text-secondary small', text: t('det.proc.none') });
  } else {
    body = table(`gpu-procs-${g.index}`, [t('det.proc.user'), t('det.proc.pid'), t('det.proc.command'),
      t('det.proc.mem'), t('det.proc.container'), t('det.proc.running')], g.processes.map(processRow));
  }
  return h('div', { class: 'card-body border-top gpu-detail', dataset: { gpu: g.index } },
    title, healthLine(g), h('div', { class: 'mt-2' }, body),
    g.processes_truncated ? h('div', { class: 'small text-secondary mt-1', text: t('det.proc.truncated') }) : null);
}

function gpuRow(g) {
  const badge = gpuStateBadge();
  updateGpuStateBadge(badge, g.state, g.state_reason || g.error);
  return h('tr', { dataset: { gpu: g.index, state: g.state || 'unknown' } },
    td(String(g.index)),
    h('td', null, g.name || t('common.none'), g.error ? h('div', { class: 'text-danger small', text: g.error }) : null),
    h('td', null, badge, h('div', { class: 'small text-secondary', title: g.state_since ? fmtTime(g.state_since) : null, text: g.state_since ? fmtAgo(g.state_since) : '' })),
    td(fmtPct(g.util_pct)),
    td(none(g.mem_used_mb) ? t('common.none') : `${fmtMiB(g.mem_used_mb)} / ${fmtMiB(g.mem_total_mb)}`),
    td(none(g.temp_c) ? t('common.none') : `${fmtNumber(g.temp_c)} °C`),
    td(none(g.power_w) ? t('common.none') : `${fmtNumber(g.power_w)} W`));
}

// {el, update(gpus)}: the card body of the detail page's GPU card.
export function gpuSection() {
  const tbody = h('tbody');
  const list = h('div', { class: 'table-responsive' },
    h('table', { class: 'table table-vcenter card-table', id: 'gpu-table' },
      h('thead', null, h('tr', null, [t('det.gpu.index'), t('det.gpu.name'), t('det.gpu.state'), t('det.gpu.util'),
        t('det.gpu.mem'), t('det.gpu.temp'), t('det.gpu.power')].map((x) => h('th', { text: x })))), tbody));
  const details = h('div', { class: 'gpu-details' });
  const empty = h('div', { class: 'card-body text-secondary', hidden: true, text: t('det.gpu.none') });
  const el = h('div', { class: 'gpu-section' }, list, details, empty);
  return {
    el,
    update(gpus) {
      tbody.replaceChildren(...gpus.map(gpuRow));
      details.replaceChildren(...gpus.map(processBlock));
      list.hidden = !gpus.length;
      empty.hidden = gpus.length > 0;
    },
  };
}
