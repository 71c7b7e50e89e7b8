// SPDX-License-Identifier: MIT
// The dashboard's i18n API in one import: the current language and its strings (lang.js, with
// the tables strings_en.js and strings_zh_CN.js) and the language-aware formatters (format.js).
export { LANGS, lang, langSelect, missingKeys, onLangChange, setLang, t } from './lang.js';
export {
  fmtAgo, fmtBytes, fmtDuration, fmtDurationMs, fmtMiB, fmtNumber, fmtPct, fmtTime, fmtTimeShort, serverNow,
  setServerDate,
} from './format.js';
