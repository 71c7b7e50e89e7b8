// SPDX-License-Identifier: MIT
// How the aggregator reaches an agent: the TLS badge ("plain HTTP" warns), the short form of a
// key pin, and the re-pin action after a "key changed" error (admin token).
import { api } from './api.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';

const BADGE = {
  off: 'bg-warning text-warning-fg',
  unpinned: 'bg-azure-lt',
  pinned: 'bg-success-lt',
  ca: 'bg-success-lt',
  key_changed: 'bg-danger text-danger-fg',
};

// "sha256//AbCdEfGh…wXyZ=": enough to compare with what the agent printed at install.
export function shortPin(pin) {
  if (!pin) return '';
  const b64 = pin.replace(/^sha256\/\//, '');
  return b64.length > 14 ? `sha256//${b64.slice(0, 8)}…${b64.slice(-5)}` : pin;
}

// A badge for s.tls_state; null when the state needs no mention (compact lists).
export function tlsBadge(s, { compact = false } = {}) {
  const state = BADGE[s.tls_state] ? s.tls_state : (s.tls ? 'unpinned' : 'off');
  if (compact && state !== 'off' && state !== 'key_changed') return null;
  return h('span', {
    class: `badge tls-badge ${BADGE[state]}`,
    dataset: { tls: state },
    title: t(`tls.hint.${state}`),
  }, icon(state === 'off' || state === 'key_changed' ? 'lockOpen' : 'lock', 'icon icon-sm me-1'), t(`tls.state.${state}`));
}

// Trust the key the agent presents now: an empty pin is pinned again at the next poll.
export function repin(id) {
  return api.update(id, { tls_pin: '' });
}

// The "key changed" alert with its re-pin button; onDone runs after a successful re-pin.
export function keyChangedAlert(id, onDone) {
  const msg = h('div', { class: 'small', role: 'status' });
  const btn = h('button', { type: 'button', class: 'btn btn-danger btn-sm', id: 'repin-btn' }, icon('key'), t('tls.repin'));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      await repin(id);
      msg.textContent = t('tls.repinned');
      if (onDone) onDone();
    } catch (e) {
      msg.textContent = e.message;
    } finally {
      btn.disabled = false;
    }
  });
  return h('div', { class: 'alert alert-danger', role: 'alert', id: 'key-changed' },
    h('div', { class: 'fw-bold', text: t('tls.key_changed_title') }),
    h('div', { class: 'mb-2', text: t('tls.key_changed_text') }),
    h('div', { class: 'd-flex flex-wrap gap-2 align-items-center' }, btn, msg));
}
