// SPDX-License-Identifier: MIT
// Client of the aggregator's REST API: JSON GETs with a timeout, mutations with the admin
// token (asked once, kept in sessionStorage, asked again on 401/403 with the reason), and the
// reachability state shown by the lost-connection banner.
import { setServerDate } from './i18n.js';
import { askAdminToken } from './modal.js';

const TIMEOUT_MS = 10000;
const TOKEN_KEY = 'lanmon.adminToken';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && typeof body.error === 'string' && body.error) || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.body = body || {};
    this.fields = (body && body.fields && typeof body.fields === 'object') ? body.fields : {};
  }
}

// The aggregator could not be reached at all (connection refused, timeout, DNS...).
export class NetworkError extends Error {
  constructor(msg) {
    super(msg);
    this.name = 'NetworkError';
  }
}

// The user cancelled the admin-token prompt.
export class CancelledError extends Error {
  constructor(msg) {
    super(msg);
    this.name = 'CancelledError';
  }
}

// ---- reachability ------------------------------------------------------------------------
const conn = { ok: true, lastOkAt: null, listeners: new Set() };

export function connection() {
  return { ok: conn.ok, lastOkAt: conn.lastOkAt };
}

export function onConnectionChange(fn) {
  conn.listeners.add(fn);
  return () => conn.listeners.delete(fn);
}

function markConnection(ok) {
  const changed = ok !== conn.ok;
  conn.ok = ok;
  if (ok) conn.lastOkAt = Date.now();
  if (changed) for (const fn of conn.listeners) fn(connection());
}

// The JSON body of a reply, and with withResponse {data, response} (for paging headers).
async function request(method, path, { body, headers, withResponse = false } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: ctrl.signal,
    });
  } catch (e) {
    markConnection(false);
    throw new NetworkError(e && e.name === 'AbortError' ? 'timeout' : String(e && e.message));
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  let text = '';
  try {
    text = await resp.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  markConnection(true);
  setServerDate(resp.headers.get('Date'));
  if (!resp.ok) throw new ApiError(resp.status, data || (text ? { error: text.slice(0, 200) } : null));
  return withResponse ? { data, response: resp } : data;
}

export function apiGet(path) {
  return request('GET', path);
}

// ---- admin token -------------------------------------------------------------------------
export function adminToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setAdminToken(v) {
  try {
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: asked again next time */
  }
}

let prompting = null;

async function ensureToken(reason) {
  // One prompt at a time even if two mutations race.
  if (!prompting) {
    prompting = askAdminToken(reason).finally(() => {
      prompting = null;
    });
  }
  const v = await prompting;
  if (!v) throw new CancelledError('cancelled');
  setAdminToken(v);
  return v;
}

// POST/PUT/DELETE with X-Admin-Token. Asks for the token when none is stored, and again (with
// the aggregator's reason) after 401 or 403.
export async function apiSend(method, path, body) {
  let token = adminToken() || (await ensureToken(null));
  for (;;) {
    try {
      return await request(method, path, { body, headers: { 'X-Admin-Token': token } });
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        setAdminToken('');
        token = await ensureToken(e.message);
        continue;
      }
      throw e;
    }
  }
}

// ---- endpoints ---------------------------------------------------------------------------
// One page of the server list: {list, total} (total: how many match the filters).
async function serverPage(query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== '' && v !== null && v !== undefined) q.set(k, String(v));
  const { data, response } = await request('GET', `/api/servers?${q}`, { withResponse: true });
  const total = Number(response.headers.get('X-Total-Count'));
  return { list: data, total: Number.isFinite(total) ? total : data.length };
}

export const api = {
  servers: () => apiGet('/api/servers'),
  // Only the given fields of every server (e.g. 'id,name' for a picker).
  serverFields: (fields) => apiGet(`/api/servers?fields=${encodeURIComponent(fields)}&sort=name`),
  serverPage,
  summary: () => apiGet('/api/servers/summary'),
  health: () => apiGet('/api/health'),
  server: (id) => apiGet(`/api/servers/${encodeURIComponent(id)}`),
  recent: (id, metric) => apiGet(`/api/servers/${encodeURIComponent(id)}/recent?metric=${encodeURIComponent(metric)}`),
  timeseries: (id, metric, agg, from, to) => apiGet(`/api/servers/${encodeURIComponent(id)}/timeseries?${new URLSearchParams({ metric, agg, from, to })}`),
  catalog: (id) => apiGet(`/api/servers/${encodeURIComponent(id)}/services/catalog`),
  events: (q) => apiGet(`/api/events?${new URLSearchParams(q)}`),
  usage: (q) => apiGet(`/api/usage?${new URLSearchParams(q)}`),
  usageSeries: (q) => apiGet(`/api/usage/timeseries?${new URLSearchParams(q)}`),
  gpus: (serverId) => apiGet(serverId ? `/api/gpus?server_id=${encodeURIComponent(serverId)}` : '/api/gpus'),
  create: (body) => apiSend('POST', '/api/servers', body),
  update: (id, body) => apiSend('PUT', `/api/servers/${encodeURIComponent(id)}`, body),
  remove: (id) => apiSend('DELETE', `/api/servers/${encodeURIComponent(id)}`),
};
