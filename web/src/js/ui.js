// SPDX-License-Identifier: MIT
// Shared view pieces: the refresh loop (never overlapping, paused while the tab is hidden),
// status badges, usage bars, flash messages and page headers.
import { h, setAttr, setClass, setText } from './dom.js';
import { fmtPct, t } from './i18n.js';

// Runs fn now and then `intervalMs` after each run finished; no run while document.hidden,
// and one immediately when the tab becomes visible again.
export function startPoller(fn, intervalMs) {
  let timer = null;
  let running = false;
  let stopped = false;
  let rerun = false;

  async function tick() {
    timer = null;
    if (stopped || running || document.hidden) return;
    running = true;
    try {
      await fn();
    } catch (e) {
      // Views show their own errors; the loop keeps going.
      if (!(e && e.name === 'NetworkError')) console.debug('refresh failed', e);
    } finally {
      running = false;
      if (rerun && !stopped) {
        rerun = false;
        timer = setTimeout(tick, 0);
      } else {
        schedule();
      }
    }
  }

  function schedule() {
    if (stopped || running || timer || document.hidden) return;
    timer = setTimeout(tick, intervalMs);
  }

  function onVisibility() {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else if (!running) {
      clearTimeout(timer);
      timer = null;
      tick();
    }
  }

  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    },
    // Refresh as soon as possible (right after the current run, if one is under way).
    now() {
      if (stopped) return;
      if (running) {
        rerun = true;
        return;
      }
      clearTimeout(timer);
      timer = null;
      tick();
    },
  };
}

// Counts finished refreshes on <body data-refresh-count> (tests and the benchmark wait on it).
export function markRefreshed() {
  const n = Number(document.body.dataset.refreshCount || 0) + 1;
  document.body.dataset.refreshCount = String(n);
}

const STATUS_CLASS = {
  online: 'bg-success text-success-fg',
  degraded: 'bg-warning text-warning-fg',
  offline: 'bg-danger text-danger-fg',
  disabled: 'bg-secondary text-secondary-fg',
};

export const STATUS_ORDER = { offline: 0, degraded: 1, online: 2, disabled: 3 };

export function statusBadge() {
  return h('span', { class: 'badge status-badge' });
}

// Colour and text: status is never shown by colour alone.
export function updateStatusBadge(el, status, lastError) {
  const s = STATUS_CLASS[status] ? status : 'unknown';
  setClass(el, `badge status-badge ${STATUS_CLASS[s] || 'bg-secondary-lt'}`);
  setText(el, t(`status.${s}`));
  setAttr(el, 'data-status', s);
  setAttr(el, 'title', lastError || null);
}

function barColour(pct) {
  if (pct >= 90) return 'bg-danger';
  if (pct >= 75) return 'bg-warning';
  return 'bg-primary';
}

// A labelled usage bar: {el, set(pct, text?)}.
export function usageBar(label, key) {
  const value = h('span', { class: 'usage-value' });
  const fill = h('div', { class: 'progress-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100' });
  const lab = h('span', { class: 'usage-label text-secondary', text: label });
  const el = h('div', { class: 'usage', dataset: key ? { metric: key } : null },
    h('div', { class: 'd-flex justify-content-between' }, lab, value),
    h('div', { class: 'progress progress-sm' }, fill));
  return {
    el,
    label: lab,
    set(pct, text) {
      const has = pct !== null && pct !== undefined && !Number.isNaN(pct);
      setText(value, text !== undefined ? text : fmtPct(has ? pct : null));
      const w = has ? `${Math.max(0, Math.min(100, pct)).toFixed(1)}%` : '0%';
      if (fill.style.width !== w) fill.style.width = w;
      setClass(fill, `progress-bar ${has ? barColour(pct) : ''}`);
      setAttr(fill, 'aria-valuenow', has ? pct.toFixed(1) : null);
      setAttr(fill, 'aria-label', label);
    },
  };
}

// Flash message shown at the top of the current view, or of the next one with defer (before a
// navigation).
let flashQueue = [];
export function flash(text, kind = 'success', defer = false) {
  flashQueue.push({ text, kind });
  if (!defer) showFlashes();
}

export function showFlashes() {
  const slot = document.getElementById('flash-slot');
  if (!slot) return;
  for (const f of flashQueue) {
    const el = h('div', { class: `alert alert-${f.kind} alert-dismissible`, role: 'status' },
      h('div', { text: f.text }),
      h('button', { type: 'button', class: 'btn-close', 'aria-label': t('common.close'), on: { click: () => el.remove() } }));
    slot.appendChild(el);
    setTimeout(() => el.remove(), 8000);
  }
  flashQueue = [];
}

export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header d-print-none mb-3' },
    h('div', { class: 'row g-2 align-items-center' },
      h('div', { class: 'col' }, h('h1', { class: 'page-title', text: title })),
      actions.length ? h('div', { class: 'col-auto ms-auto d-flex flex-wrap gap-2' }, actions) : null),
    h('div', { id: 'flash-slot', class: 'mt-2' }));
}

export function errorAlert(msg) {
  return h('div', { class: 'alert alert-danger', role: 'alert', text: t('common.error', { msg }) });
}

export function emptyState(text, action) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title', text }), action ? h('div', { class: 'empty-action' }, action) : null);
}
