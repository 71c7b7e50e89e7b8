// SPDX-License-Identifier: MIT
// Runs before first paint (classic script, no inline code under the CSP): applies the
// remembered or preferred colour theme and language so the page does not flash. This is the
// only place the language is detected: lang.js takes it from <html lang> and handles switching.
(function () {
  var theme = null, lang = null;
  try {
    theme = localStorage.getItem('lanmon.theme');
    lang = localStorage.getItem('lanmon.lang');
  } catch (e) { /* storage disabled: use the browser's preferences */ }
  if (theme !== 'dark' && theme !== 'light') {
    theme = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches
      ? 'dark' : 'light';
  }
  // The codes of lang.js's LANGS (the web tests check that every one of them is accepted here).
  if (lang !== 'en' && lang !== 'zh-CN') {
    lang = /^zh\b/i.test(navigator.language || '') ? 'zh-CN' : 'en';
  }
  document.documentElement.setAttribute('data-bs-theme', theme);
  document.documentElement.setAttribute('lang', lang);
})();
