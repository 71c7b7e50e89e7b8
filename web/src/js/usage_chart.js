// SPDX-License-Identifier: MIT
// The daily GPU-hours chart of the usage page (uPlot bars): each day's GPU-hours as a light bar
// with the busy GPU-hours drawn over it in the darker colour, the unfinished day marked by a
// hollow bar and a note under the chart.
import { h, setAttr, setText } from './dom.js';
import { fmtNumber, lang, t } from './i18n.js';

const GPU = 'rgba(32,107,196,0.30)';
const BUSY = '#206bc4';

function axisColours() {
  const dark = document.documentElement.getAttribute('data-bs-theme') === 'dark';
  return { axis: dark ? '#9ba9be' : '#49566c', grid: dark ? 'rgba(255,255,255,0.08)' : 'rgba(4,32,69,0.08)' };
}

// Decimals that show a tick step exactly: 0.25 → 2, 0.5 → 1, 5 → 0 (at most 3).
function stepDecimals(incr) {
  for (let d = 0; d < 3; d++) {
    const scaled = incr * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-9) return d;
  }
  return 3;
}

// {el, set(points, fromS, toS), setError(msg), destroy()}; points from /api/usage/timeseries.
export function createDailyChart() {
  const title = h('h3', { class: 'card-title', text: t('use.daily') });
  const plotEl = h('div', { class: 'chart-plot' });
  const empty = h('div', { class: 'chart-empty text-secondary', hidden: true, text: t('use.empty') });
  const note = h('div', { class: 'chart-note small text-secondary', hidden: true, text: t('use.partial') });
  const err = h('div', { class: 'chart-error text-danger small', hidden: true });
  const el = h('div', { class: 'chart usage-daily', dataset: { points: '0' } }, title,
    h('div', { class: 'chart-area' }, plotEl, empty), note, err);
  let plot = null;
  let ro = null;
  const dateFmt = new Intl.DateTimeFormat(lang(), { month: '2-digit', day: '2-digit' });
  const width = () => Math.max(200, plotEl.clientWidth || el.clientWidth || 400);

  function build() {
    if (plot || typeof globalThis.uPlot !== 'function') return;
    const c = axisColours();
    const bars = globalThis.uPlot.paths.bars({ size: [0.7, 48] });
    const hours = (u, v) => (v === null || v === undefined ? t('common.none') : t('use.hours', { n: fmtNumber(v, 2) }));
    const opts = {
      width: width(),
      height: 210,
      series: [
        { label: t('ev.time'), value: (u, v) => (v === null ? '' : dateFmt.format(new Date(v * 1000))) },
        { label: t('use.series.gpu'), fill: GPU, stroke: GPU, paths: bars, points: { show: false }, value: hours },
        { label: t('use.series.busy'), fill: BUSY, stroke: BUSY, paths: bars, points: { show: false }, value: hours },
      ],
      scales: { x: { time: true, range: (u, min, max) => [min - 43200, max + 43200] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        // Whole days: the labels are dates, so finer ticks would repeat them.
        { stroke: c.axis, grid: { show: false }, ticks: { stroke: c.grid }, space: 48,
          incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400],
          values: (u, splits) => splits.map((v) => (v === null ? '' : dateFmt.format(new Date(v * 1000)))) },
        { stroke: c.axis, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid }, size: 48,
          // As many decimals as the tick step needs (0.25 must not read 0.3).
          values: (u, splits, axisIdx, space, incr) => splits.map((v) => fmtNumber(v, stepDecimals(incr))) },
      ],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    plot = new globalThis.uPlot(opts, [[], [], []], plotEl);
    ro = new ResizeObserver(() => {
      if (plot && Math.abs(width() - plot.width) > 1) plot.setSize({ width: width(), height: 210 });
    });
    ro.observe(plotEl);
  }

  function destroy() {
    if (ro) ro.disconnect();
    ro = null;
    if (plot) plot.destroy();
    plot = null;
  }

  return {
    el,
    // One bar per day of [fromS, toS) (local days; days without use are 0).
    set(resp, fromS, toS, user) {
      build();
      setText(title, user ? t('use.daily_of', { user }) : `${t('use.daily')} (${t('use.all_users')})`);
      err.hidden = true;
      const byDay = new Map();
      let partial = false;
      for (const p of resp.points || []) {
        const x = Math.floor(Date.parse(p.ts) / 1000);
        byDay.set(x, p);
        if (p.partial) partial = true;
      }
      const xs = [], g = [], b = [];
      let n = 0;
      const day = new Date(fromS * 1000);
      day.setHours(0, 0, 0, 0);
      for (let guard = 0; day.getTime() / 1000 < toS && guard < 400; guard++) {
        const x = Math.floor(day.getTime() / 1000);
        // The server's days start at the local midnight of the tz_offset it was sent (whole
        // hours, one offset for the range): across a DST change they differ by an hour.
        let p = byDay.get(x);
        if (!p) for (const [k, v] of byDay) if (!p && Math.abs(k - x) < 43200) p = v;
        xs.push(x);
        g.push(p ? p.gpu_hours : 0);
        b.push(p ? p.busy_gpu_hours : 0);
        if (p && p.gpu_hours > 0) n++;
        day.setDate(day.getDate() + 1);
      }
      setAttr(el, 'data-points', String(n));
      empty.hidden = n > 0;
      note.hidden = !partial;
      if (plot) plot.setData([xs, g, b]);
    },
    setError(msg) {
      err.hidden = false;
      setText(err, t('common.error', { msg }));
    },
    destroy,
  };
}
