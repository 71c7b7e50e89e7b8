// SPDX-License-Identifier: MIT
// Event messages in the reader's language. The aggregator stores each event's message in English,
// written from one template per event type (src/aggregator/state.c, state_gpus.c, store_rows.c);
// a message that matches its type's template is written again from the current language's
// template (evmsg.* in the string tables). Anything else (older wording, a message cut at its
// length limit) is shown as stored; the parts that come from elsewhere (an agent's error text,
// a GPU's failure reason, a pin) are kept as they are.
import { fmtTime, t } from './i18n.js';

// "GPU 3 (NVIDIA A100) on srv-01" (the model is left out when unknown): index, model, server.
const GPU = 'GPU (\\d+)(?: \\((.*?)\\))? on (.+?)';

// type: [pattern, key, names of the captured parts]
const TEMPLATES = {
  server_down: [/^Server (.+?) went offline: ([\s\S]*)$/, 'evmsg.server_down', ['name', 'why']],
  server_up: [/^Server (.+) came back online$/, 'evmsg.server_up', ['name']],
  service_failed: [/^Service (.+?) on (.+) failed$/, 'evmsg.service_failed', ['unit', 'name']],
  service_recovered: [/^Service (.+?) on (.+) recovered$/, 'evmsg.service_recovered', ['unit', 'name']],
  server_added: [/^Server (.+) added \((.*)\)$/, 'evmsg.server_added', ['name', 'endpoint']],
  server_removed: [/^Server (.+) removed$/, 'evmsg.server_removed', ['name']],
  server_key_pinned: [/^Server (.+?): TLS key pinned at first contact \((.*)\)$/, 'evmsg.server_key_pinned', ['name', 'pin']],
  server_key_changed: [/^Server (.+?) presented a different TLS key than the one pinned: .*$/, 'evmsg.server_key_changed', ['name']],
  gpu_error: [new RegExp(`^${GPU}: ([\\s\\S]*)$`), 'evmsg.gpu_error', ['index', 'model', 'name', 'why']],
  gpu_recovered: [new RegExp(`^${GPU} recovered$`), 'evmsg.gpu_recovered', ['index', 'model', 'name']],
  gpu_idle: [new RegExp(`^${GPU} idle since ([^\\s,]+)(.*)$`), 'evmsg.gpu_idle', ['index', 'model', 'name', 'since', 'holders']],
};

// ", held by alice (2 processes), bob (1 process)", " and 3 more", or
// ", 512 MiB held without a listed process" (state_gpus.c holders_text).
function holdersText(s) {
  if (s === '') return '';
  let m = s.match(/^, (\d+) MiB held without a listed process$/);
  if (m) return t('evmsg.held_unlisted', { mib: m[1] });
  m = s.match(/^, held by (.*?)(?: and (\d+) more)?$/);
  if (!m) return null;
  const users = m[1].split(/, (?=.+? \(\d+ process(?:es)?\))/).map((u) => {
    const p = u.match(/^(.+) \((\d+) process(?:es)?\)$/);
    if (!p) return null;
    const who = p[1] === 'a user the agent cannot see' ? t('evmsg.hidden_user') : p[1];
    return t(p[2] === '1' ? 'evmsg.user_procs_1' : 'evmsg.user_procs', { user: who, n: p[2] });
  });
  if (users.includes(null)) return null;
  const list = users.join(t('evmsg.list_sep'));
  return t('evmsg.held_by', { users: m[2] ? t('evmsg.and_more', { users: list, n: m[2] }) : list });
}

// The message of an event ({type, message}) in the current language.
export function eventText(ev) {
  const tpl = TEMPLATES[ev.type];
  const m = tpl && typeof ev.message === 'string' ? ev.message.match(tpl[0]) : null;
  if (!m) return ev.message;
  const vars = {};
  tpl[2].forEach((name, i) => { vars[name] = m[i + 1] ?? ''; });
  if ('index' in vars) {
    vars.gpu = t(vars.model ? 'evmsg.gpu_model' : 'evmsg.gpu', vars);
  }
  if ('since' in vars) vars.since = fmtTime(vars.since);
  if ('holders' in vars) {
    const h = holdersText(vars.holders);
    if (h === null) return ev.message;
    vars.holders = h;
  }
  return t(tpl[1], vars);
}
