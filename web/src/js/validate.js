// SPDX-License-Identifier: MIT
// Client-side checks of the server form, mirroring the aggregator's own (name 1–64 characters
// after trimming, without control, invisible or text-direction characters; host an IP address
// or DNS name; port 1–65535; token required on add, without line breaks or outer spaces; systemd
// unit names). The aggregator checks again (also that a name is not a look-alike of another:
// 409); its messages are shown as well.

const UNIT_SUFFIXES = ['.service', '.socket', '.timer', '.mount', '.target', '.path', '.automount',
  '.swap', '.slice', '.scope', '.device'];

export function validIPv4(s) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return Boolean(m) && m.slice(1).every((p) => Number(p) <= 255 && (p === '0' || !p.startsWith('0')));
}

export function validIPv6(s) {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || !s.includes(':')) return false;
  try {
    // The URL parser implements the full IPv6 text grammar.
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

export function validHost(s) {
  if (!s || s.length > 253) return false;
  if (validIPv4(s) || validIPv6(s)) return true;
  if (/^[0-9.]+$/.test(s)) return false; // digits and dots only but no valid IPv4
  return s.split('.').every((l) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

export function validUnitName(s) {
  if (!s || s.length < 2 || s.length > 255 || !/^[A-Za-z0-9:_.@\\-]+$/.test(s)) return false;
  return UNIT_SUFFIXES.some((x) => s.length > x.length && s.endsWith(x));
}

// Controls, soft hyphen, zero-width and bidi characters, word joiner and invisible operators,
// line/paragraph separators, variation selectors, BOM and tags (the aggregator's list).
// eslint-disable-next-line no-control-regex, no-misleading-character-class
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb]|\udb40[\udc00-\udfff]/u;

// The name as the aggregator stores it: outer spaces removed, inner runs made one space.
export function normalName(s) {
  return s.replace(/[\s\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+/gu, ' ').trim();
}

// values: {name, host, port (string), token, services: [..]}; returns {field: i18n key/vars}.
export function validateServer(v, creating) {
  const errs = {};
  const name = normalName(v.name || '');
  if (HIDDEN.test(v.name || '')) errs.name = ['val.name_ctrl'];
  else if (!name || [...name].length > 64) errs.name = ['val.name'];
  if (!validHost(v.host)) errs.host = ['val.host'];
  if (!/^\d{1,5}$/.test(v.port) || Number(v.port) < 1 || Number(v.port) > 65535) errs.agent_port = ['val.port'];
  if (creating && !v.token) errs.token = ['val.token'];
  else if (v.token && v.token.length > 512) errs.token = ['val.token_long'];
  // eslint-disable-next-line no-control-regex
  else if (v.token && (/[\u0000-\u001f\u007f]/.test(v.token) || v.token.trim() !== v.token)) {
    errs.token = ['val.token_chars'];
  }
  if (v.services.length > 64) errs.services = ['val.services_many'];
  else {
    const seen = new Set();
    for (const u of v.services) {
      if (!validUnitName(u)) {
        errs.services = ['val.services', { unit: u }];
        break;
      }
      if (seen.has(u)) {
        errs.services = ['val.services_dup', { unit: u }];
        break;
      }
      seen.add(u);
    }
  }
  return errs;
}
