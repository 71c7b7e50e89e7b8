// SPDX-License-Identifier: MIT
// Client-side checks of the server form, mirroring the aggregator's own (name 1–64 bytes
// without control characters, host an IP address or DNS name, port 1–65535, token required
// on add, systemd unit names). The aggregator checks again; its messages are shown as well.

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

export function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

// values: {name, host, port (string), token, services: [..]}; returns {field: i18n key/vars}.
export function validateServer(v, creating) {
  const errs = {};
  if (!v.name || v.name.length > 64) errs.name = ['val.name'];
  else if (utf8Length(v.name) > 64) errs.name = ['val.name_bytes'];
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f\u007f]/.test(v.name)) errs.name = ['val.name_ctrl'];
  if (!validHost(v.host)) errs.host = ['val.host'];
  if (!/^\d{1,5}$/.test(v.port) || Number(v.port) < 1 || Number(v.port) > 65535) errs.agent_port = ['val.port'];
  if (creating && !v.token) errs.token = ['val.token'];
  else if (v.token && v.token.length > 512) errs.token = ['val.token_long'];
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
