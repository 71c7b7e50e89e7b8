// SPDX-License-Identifier: MIT
// The current UI language: taken once from <html lang>, which boot.js (the only place that
// detects it, from localStorage or navigator.language) sets before first paint; switched and
// remembered by the navbar control; t() looks strings up in the current language's table.
import { h } from './dom.js';
import { STRINGS_EN } from './strings_en.js';
import { STRINGS_ZH_CN } from './strings_zh_CN.js';

const STRINGS = { en: STRINGS_EN, 'zh-CN': STRINGS_ZH_CN };
const STORAGE_KEY = 'lanmon.lang'; // read by boot.js at the next load

export const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '中文' },
];

const listeners = new Set();

// What boot.js chose; the shell's static lang="en" when boot.js did not run.
let current = STRINGS[document.documentElement.getAttribute('lang')] ? document.documentElement.getAttribute('lang') : 'en';
document.documentElement.setAttribute('lang', current);

export function lang() {
  return current;
}

export function setLang(code) {
  if (!STRINGS[code] || code === current) return;
  current = code;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.setAttribute('lang', code);
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// t('ov.summary', {online: 1, total: 2}); unknown keys fall back to English, then the key.
export function t(key, vars) {
  let s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// Keys present in one language but not the other (used by the tests).
export function missingKeys() {
  const en = Object.keys(STRINGS.en), zh = Object.keys(STRINGS['zh-CN']);
  return {
    zh: en.filter((k) => !(k in STRINGS['zh-CN'])),
    en: zh.filter((k) => !(k in STRINGS.en)),
  };
}

// The navbar's language <select>: switching re-renders every listener's view in place.
export function langSelect() {
  return h('select', {
    class: 'form-select form-select-sm', id: 'lang-select', 'aria-label': t('nav.language'),
    on: { change: (ev) => setLang(ev.target.value) },
  }, LANGS.map((l) => h('option', { value: l.code, selected: l.code === current, text: l.label })));
}
