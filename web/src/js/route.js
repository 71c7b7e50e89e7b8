// SPDX-License-Identifier: MIT
// The hash part of the URL: "#/path?query" parsing and query rewriting without navigation, so
// that pages and their filters can be bookmarked and reloaded.

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  return { path: path || '/', query };
}

// Replaces the query of the current hash (empty values dropped) without firing hashchange.
export function replaceQuery(entries) {
  const { path } = parseHash();
  const qs = Object.entries(entries).filter(([, v]) => v !== '' && v !== null && v !== undefined);
  const s = qs.length ? `?${new URLSearchParams(qs.map(([k, v]) => [k, String(v)]))}` : '';
  history.replaceState(null, '', `#${path}${s}`);
}

export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}
