// SPDX-License-Identifier: MIT
// Numbers, sizes, times and durations in the current language: Intl formats for numbers and
// dates, unit words from the string tables (unit.*, ago.*), so no formatter has its own words.
import { lang, t } from './lang.js';

const nfCache = new Map();
function nf(digits) {
  const k = lang() + digits;
  let f = nfCache.get(k);
  if (!f) {
    f = new Intl.NumberFormat(lang(), { maximumFractionDigits: digits });
    nfCache.set(k, f);
  }
  return f;
}

export function fmtNumber(v, digits = 1) {
  return v === null || v === undefined || Number.isNaN(v) ? t('common.none') : nf(digits).format(v);
}

export function fmtPct(v) {
  return v === null || v === undefined ? t('common.none') : `${nf(1).format(v)}%`;
}

// Binary size units are the same in every language (IEC symbols).
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function fmtBytes(v) {
  if (v === null || v === undefined) return t('common.none');
  let i = 0;
  let x = Number(v);
  while (Math.abs(x) >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${nf(i === 0 ? 0 : 1).format(x)} ${UNITS[i]}`;
}

export function fmtMiB(mb) {
  return mb === null || mb === undefined ? t('common.none') : fmtBytes(mb * 1024 * 1024);
}

// Server clock minus browser clock in ms, learned from the Date header of API replies, so that
// "N s ago" is right even when the two clocks disagree by more than a second or two.
let skewMs = 0;
export function setServerDate(dateHeader) {
  const ms = Date.parse(dateHeader || '');
  if (Number.isNaN(ms)) return;
  const d = ms - Date.now();
  // The header has 1 s resolution: ignore differences that small.
  skewMs = Math.abs(d) > 2000 ? d : 0;
}

export function serverNow() {
  return Date.now() + skewMs;
}

// "5 s ago" / "5 秒前" for an ISO time or ms timestamp, relative to the server's clock.
export function fmtAgo(ts) {
  if (ts === null || ts === undefined) return t('common.never');
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  if (Number.isNaN(ms)) return t('common.none');
  const s = Math.max(0, Math.round((serverNow() - ms) / 1000));
  if (s < 90) return t('ago.s', { n: s });
  if (s < 90 * 60) return t('ago.m', { n: Math.round(s / 60) });
  if (s < 36 * 3600) return t('ago.h', { n: Math.round(s / 3600) });
  return t('ago.d', { n: Math.round(s / 86400) });
}

const dtfCache = new Map();
// Absolute time in the browser's time zone.
export function fmtTime(ts, withDate = true) {
  if (ts === null || ts === undefined) return t('common.none');
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  if (Number.isNaN(ms)) return t('common.none');
  const k = lang() + withDate;
  let f = dtfCache.get(k);
  if (!f) {
    f = new Intl.DateTimeFormat(lang(), withDate
      ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    dtfCache.set(k, f);
  }
  return f.format(new Date(ms));
}

// The same to the minute, the year left out when it is this year's (table columns that must not
// make a table wider than the page: "12/03, 04:00 PM", "2025/12/03 16:00").
export function fmtTimeShort(ts) {
  if (ts === null || ts === undefined) return t('common.none');
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  if (Number.isNaN(ms)) return t('common.none');
  const sameYear = new Date(ms).getFullYear() === new Date(serverNow()).getFullYear();
  const k = `${lang()}short${sameYear}`;
  let f = dtfCache.get(k);
  if (!f) {
    f = new Intl.DateTimeFormat(lang(), {
      ...(sameYear ? {} : { year: 'numeric' }), month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
    dtfCache.set(k, f);
  }
  return f.format(new Date(ms));
}

// A long span (uptime, how long a process has run) in its two largest units, rounded down:
// "2 d 4 h", "3 h 5 min", "7 min" (zh-CN: "2 天 4 小时", "3 小时 5 分钟", "7 分钟").
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return t('common.none');
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  if (d) return `${t('unit.d', { n: nf(0).format(d) })} ${t('unit.h', { n: h })}`;
  if (h) return `${t('unit.h', { n: h })} ${t('unit.min', { n: m })}`;
  return t('unit.min', { n: m });
}

// A short delay: "850 ms", "12 s", "3.5 min" (zh-CN: "850 毫秒", "12 秒", "3.5 分钟").
export function fmtDurationMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return t('common.none');
  if (ms < 1000) return t('unit.ms', { n: nf(0).format(ms) });
  if (ms < 90000) return t('unit.s', { n: nf(1).format(ms / 1000) });
  return t('unit.min', { n: nf(1).format(ms / 60000) });
}
