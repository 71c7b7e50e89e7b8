// SPDX-License-Identifier: MIT
// Time-series charts with uPlot (loaded as vendor/uPlot.iife.min.js): the last hour at poll
// resolution, or hourly buckets as an average line plus a maximum line, with the unfinished
// (partial) bucket drawn dashed with a hollow end marker and explained under the chart.
import { h, setAttr, setText } from './dom.js';
import { fmtPct, fmtTime, lang, t } from './i18n.js';

const COLOURS = {
  value: '#206bc4',
  avg: '#206bc4',
  max: '#f76707',
};

function themeColours() {
  const dark = document.documentElement.getAttribute('data-bs-theme') === 'dark';
  return {
    axis: dark ? '#9ba9be' : '#49566c',
    grid: dark ? 'rgba(255,255,255,0.08)' : 'rgba(4,32,69,0.08)',
    bg: dark ? '#151f2c' : '#ffffff',
  };
}

const axisFmt = new Map();
function axisFormatter(kind) {
  const k = lang() + kind;
  let f = axisFmt.get(k);
  if (!f) {
    const opts = kind === 'date' ? { month: '2-digit', day: '2-digit' }
      : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    f = new Intl.DateTimeFormat(lang(), opts);
    axisFmt.set(k, f);
  }
  return f;
}

// Tick steps of the time axes in seconds (uPlot's defaults go down to milliseconds).
const TIME_INCRS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
  2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400];

// X axis labels in the browser's time zone and language.
function timeValues(u, splits, axisIdx, space, incr) {
  return splits.map((v) => {
    if (v === null || v === undefined) return '';
    const d = new Date(v * 1000);
    if (incr >= 86400) return axisFormatter('date').format(d);
    // Midnight on an hourly axis: show the date instead of 00:00.
    if (d.getHours() === 0 && d.getMinutes() === 0 && incr >= 3600) return axisFormatter('date').format(d);
    return axisFormatter('time').format(d);
  });
}

function uPlotAvailable() {
  return typeof globalThis.uPlot === 'function';
}

// A chart card body: {el, setRecent(resp), setHourly(avgResp, maxResp, fromS, toS), setError(msg), destroy()}.
export function createChart(title) {
  const plotEl = h('div', { class: 'chart-plot' });
  const empty = h('div', { class: 'chart-empty text-secondary', hidden: true, text: t('det.chart_empty') });
  const note = h('div', { class: 'chart-note small text-secondary', hidden: true, text: t('det.partial_note') });
  const err = h('div', { class: 'chart-error text-danger small', hidden: true });
  const el = h('div', { class: 'chart', dataset: { points: '0', partial: '0' } },
    h('h3', { class: 'card-subtitle chart-title mb-1', text: title }),
    h('div', { class: 'chart-area' }, plotEl, empty), note, err);
  let plot = null;
  let mode = null;
  let ro = null;

  function width() {
    return Math.max(200, plotEl.clientWidth || el.clientWidth || 400);
  }

  function build(kind) {
    destroyPlot();
    if (!uPlotAvailable()) {
      err.hidden = false;
      setText(err, t('det.chart_error', { msg: 'uPlot not loaded' }));
      return;
    }
    const c = themeColours();
    const pctAxis = {
      stroke: c.axis,
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1 },
      values: (u, splits) => splits.map((v) => `${v}%`),
      size: 48,
    };
    const xAxis = {
      stroke: c.axis,
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1 },
      values: timeValues,
      space: 64,
      // Whole minutes at least: the labels show hours and minutes, so finer ticks would repeat
      // the same label ("10:08 10:08").
      incrs: TIME_INCRS,
    };
    const yValue = (u, v) => (v === null || v === undefined ? t('common.none') : fmtPct(v));
    const series = [{ label: t('ev.time'), value: (u, v) => (v === null || v === undefined ? t('common.none') : fmtTime(v * 1000)) }];
    if (kind === 'recent') {
      series.push({ label: t('det.series.value'), stroke: COLOURS.value, width: 2, fill: 'rgba(32,107,196,0.10)', value: yValue, spanGaps: false });
    } else {
      series.push({ label: t('det.series.avg'), stroke: COLOURS.avg, width: 2, fill: 'rgba(32,107,196,0.10)', value: yValue });
      series.push({ label: t('det.series.max'), stroke: COLOURS.max, width: 1.5, value: yValue });
      series.push({
        label: t('det.series.partial'),
        stroke: COLOURS.avg,
        width: 2,
        dash: [6, 4],
        value: yValue,
        points: {
          show: true,
          size: 9,
          width: 2,
          stroke: COLOURS.avg,
          fill: c.bg,
          // only the last (unfinished) bucket gets the marker
          filter: (u, si) => {
            const d = u.data[si];
            for (let i = d.length - 1; i >= 0; i--) if (d[i] !== null && d[i] !== undefined) return [i];
            return null;
          },
        },
      });
    }
    const opts = {
      width: width(),
      height: 190,
      series,
      scales: { x: { time: true }, y: { range: [0, 100] } },
      axes: [xAxis, pctAxis],
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
    };
    const data = [[], ...series.slice(1).map(() => [])];
    plot = new globalThis.uPlot(opts, data, plotEl);
    mode = kind;
    ro = new ResizeObserver(() => {
      if (plot) {
        const w = width();
        if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: 190 });
      }
    });
    ro.observe(plotEl);
  }

  function destroyPlot() {
    if (ro) ro.disconnect();
    ro = null;
    if (plot) plot.destroy();
    plot = null;
    mode = null;
  }

  function show(data, nPoints, partial) {
    err.hidden = true;
    setAttr(el, 'data-points', String(nPoints));
    setAttr(el, 'data-partial', partial ? '1' : '0');
    empty.hidden = nPoints > 0;
    note.hidden = !partial;
    if (plot) plot.setData(data);
  }

  return {
    el,
    // {interval_s, data: [{ts, value}]} from /recent
    setRecent(resp) {
      if (mode !== 'recent') build('recent');
      const step = Math.max(1, Number(resp.interval_s) || 5);
      const xs = [], ys = [];
      let n = 0, prev = null;
      for (const p of resp.data || []) {
        const x = Math.floor(Date.parse(p.ts) / 1000);
        if (Number.isNaN(x)) continue;
        if (prev !== null && x - prev > 3 * step) {
          // a gap: the server did not answer for a while
          xs.push(prev + step);
          ys.push(null);
        }
        xs.push(x);
        ys.push(p.value ?? null);
        if (p.value !== null && p.value !== undefined) n++;
        prev = x;
      }
      show([xs, ys], n, false);
    },
    // Two /timeseries replies (agg=avg and agg=max) over [fromS, toS].
    setHourly(avgResp, maxResp, fromS, toS) {
      if (mode !== 'hourly') build('hourly');
      const b = Math.max(60, Number(avgResp.bucket_s) || 3600);
      const avg = new Map(), max = new Map();
      let partialTs = null;
      for (const p of avgResp.data || []) {
        const x = Math.floor(Date.parse(p.ts) / 1000);
        avg.set(x, p.value ?? null);
        if (p.partial) partialTs = x;
      }
      for (const p of maxResp.data || []) max.set(Math.floor(Date.parse(p.ts) / 1000), p.value ?? null);
      const start = Math.floor(fromS / b) * b;
      let end = Math.floor(toS / b) * b;
      for (const x of avg.keys()) if (x > end) end = x;
      const xs = [], ya = [], ym = [], yp = [];
      let n = 0;
      for (let x = start; x <= end; x += b) {
        xs.push(x);
        const a = avg.has(x) ? avg.get(x) : null;
        if (a !== null) n++;
        if (x === partialTs) {
          ya.push(null);
          yp.push(a);
        } else {
          ya.push(a);
          yp.push(null);
        }
        ym.push(max.has(x) ? max.get(x) : null);
      }
      // The dashed segment joins the last finished bucket to the partial one.
      const pi = partialTs !== null ? xs.indexOf(partialTs) : -1;
      if (pi > 0 && ya[pi - 1] !== null) yp[pi - 1] = ya[pi - 1];
      show([xs, ya, ym, yp], n, pi >= 0 && yp[pi] !== null);
    },
    setError(msg) {
      err.hidden = false;
      setText(err, t('det.chart_error', { msg }));
    },
    destroy: destroyPlot,
  };
}
