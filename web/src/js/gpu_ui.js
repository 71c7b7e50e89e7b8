// SPDX-License-Identifier: MIT
// GPU view pieces shared by the GPUs page, the overview cards and the server detail: state
// badges (text and colour, never colour alone), who is on a GPU with process counts, the
// memory bar text, the card line "GPUs 3 free / 8" with the error badge, and the stale marker
// for an offline server's last values. All text goes in as text nodes.
import { h, setAttr, setClass, setText } from './dom.js';
import { fmtAgo, fmtMiB, fmtNumber, fmtTime, t } from './i18n.js';

export const GPU_STATES = ['free', 'busy', 'idle', 'error', 'unknown'];

const STATE_CLASS = {
  free: 'bg-success text-success-fg',
  busy: 'bg-primary text-primary-fg',
  idle: 'bg-warning text-warning-fg',
  error: 'bg-danger text-danger-fg',
  unknown: 'bg-secondary-lt',
};

export function gpuStateBadge() {
  return h('span', { class: 'badge gpu-state' });
}

// reason: what makes it an error (shown as the badge's tooltip).
export function updateGpuStateBadge(el, state, reason) {
  const s = STATE_CLASS[state] ? state : 'unknown';
  setClass(el, `badge gpu-state ${STATE_CLASS[s]}`);
  setText(el, t(`gpu.state.${s}`));
  setAttr(el, 'data-state', s);
  setAttr(el, 'title', reason || null);
}

// [{user, count}] in the order the agent lists the processes (biggest memory first); processes
// the agent could not see are counted under user null.
export function usersOf(gpu) {
  const out = [];
  const byName = new Map();
  for (const p of gpu.processes || []) {
    const k = p.user === null || p.user === undefined ? null : p.user;
    let e = byName.get(k);
    if (!e) {
      e = { user: k, count: 0 };
      byName.set(k, e);
      out.push(e);
    }
    e.count++;
  }
  return out;
}

// "alice ×2 · bob ×1" as nodes (names as text, never HTML).
export function usersNodes(gpu) {
  const users = usersOf(gpu);
  if (gpu.processes === null || gpu.processes === undefined) {
    return [h('span', { class: 'text-secondary', text: (gpu.users || []).join(', ') || t('common.none') })];
  }
  if (!users.length) return [h('span', { class: 'text-secondary', text: t('gpu.no_users') })];
  const nodes = [];
  users.forEach((u, i) => {
    if (i) nodes.push(h('span', { class: 'text-secondary', text: ' · ' }));
    nodes.push(h('span', { class: u.user === null ? 'gpu-user text-secondary' : 'gpu-user' },
      h('span', { class: 'gpu-user-name', text: u.user === null ? t('gpu.hidden_user') : u.user }),
      h('span', { class: 'gpu-user-count text-secondary', text: ` ×${u.count}` })));
  });
  if (gpu.processes_truncated) nodes.push(h('span', { class: 'text-secondary', text: ` ${t('gpu.more')}` }));
  return nodes;
}

export function memPct(gpu) {
  return gpu.mem_total_mb ? (100 * gpu.mem_used_mb) / gpu.mem_total_mb : null;
}

// "68.4 / 79.6 GiB": one unit for both, so that it fits a phone's half width.
export function memText(gpu) {
  const used = gpu.mem_used_mb;
  const total = gpu.mem_total_mb;
  if (used === null || used === undefined) return t('common.none');
  if (total === null || total === undefined) return fmtMiB(used);
  if (total < 1024) return `${fmtNumber(used, 0)} / ${fmtNumber(total, 0)} MiB`;
  return `${fmtNumber(used / 1024, 1)} / ${fmtNumber(total / 1024, 1)} GiB`;
}

// "since" with the absolute time as tooltip.
export function sinceText(iso) {
  return iso ? fmtAgo(iso) : t('common.none');
}

export function sinceTitle(iso) {
  return iso ? fmtTime(iso) : null;
}

// The overview card's GPU line: "GPUs 3 free / 8" linking to the GPUs page of the server, and
// a red badge while a GPU is in error. {el, update(server)}.
export function gpuCardLine() {
  const text = h('a', { class: 'gpu-free text-reset' });
  const err = h('span', { class: 'badge bg-danger text-danger-fg gpu-error-badge', hidden: true });
  const el = h('div', { class: 'd-flex justify-content-between align-items-center mt-1 gpu-line', dataset: { metric: 'gpu-free' } },
    h('span', { class: 'text-secondary', text: t('ov.gpus') }), h('span', { class: 'd-flex gap-1 align-items-center' }, err, text));
  return {
    el,
    update(s) {
      const l = s.latest || {};
      const n = l.gpu_count || 0;
      el.hidden = !n;
      if (!n) return;
      setText(text, t('ov.gpus_free', { free: l.gpu_free_count ?? 0, total: n }));
      setAttr(text, 'href', `#/gpus?server=${encodeURIComponent(s.id)}`);
      const e = l.gpu_error_count || 0;
      err.hidden = !e;
      setText(err, e ? t('ov.gpu_errors', { n: e }) : '');
    },
  };
}

// Marks a block of last values as stale while its server is offline: dimmed, with a note
// saying how old they are. {el (the note), update(stale, lastSeenIso)}.
export function staleMarker(block) {
  const note = h('div', { class: 'stale-note small text-warning', hidden: true });
  return {
    el: note,
    update(stale, lastSeen) {
      block.classList.toggle('stale', Boolean(stale));
      note.hidden = !stale;
      setText(note, stale ? t('gpu.stale_note', { ago: fmtAgo(lastSeen) }) : '');
    },
  };
}
