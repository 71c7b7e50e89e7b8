// SPDX-License-Identifier: MIT
// Events (#/events?server_id=&type=&before=): newest first, filtered by server and type, paged
// with the API's next_before; times shown relative and absolute. The first page refreshes
// every 5 s.
import { NetworkError, api } from '../api.js';
import { h, icon } from '../dom.js';
import { eventText } from '../event_text.js';
import { fmtAgo, fmtTime, t } from '../i18n.js';
import { replaceQuery } from '../route.js';
import { errorAlert, markRefreshed, pageHeader, startPoller } from '../ui.js';

const TYPES = ['server_down', 'server_up', 'service_failed', 'service_recovered', 'server_added', 'server_removed',
  'gpu_error', 'gpu_recovered', 'gpu_idle', 'server_key_pinned', 'server_key_changed'];
const TYPE_CLASS = {
  server_down: 'bg-danger text-danger-fg',
  server_up: 'bg-success text-success-fg',
  service_failed: 'bg-warning text-warning-fg',
  service_recovered: 'bg-teal text-teal-fg',
  server_key_pinned: 'bg-azure-lt',
  server_key_changed: 'bg-danger text-danger-fg',
  server_added: 'bg-blue-lt',
  server_removed: 'bg-secondary-lt',
  gpu_error: 'bg-danger text-danger-fg',
  gpu_recovered: 'bg-teal text-teal-fg',
  gpu_idle: 'bg-yellow-lt',
};
const PAGE_SIZE = 50;

export function mount(root, { query }) {
  document.title = `${t('ev.title')} · lanmon`;
  const state = {
    serverId: /^\d+$/.test(query.get('server_id') || '') ? query.get('server_id') : '',
    type: TYPES.includes(query.get('type')) ? query.get('type') : '',
    before: /^\d+$/.test(query.get('before') || '') ? query.get('before') : '',
    servers: null,
  };

  const serverSel = h('select', { class: 'form-select w-auto mw-100', id: 'ev-server', 'aria-label': t('ev.server') },
    h('option', { value: '', text: t('ev.all_servers') }));
  if (state.serverId) serverSel.append(h('option', { value: state.serverId, selected: true, text: `#${state.serverId}` }));
  const typeSel = h('select', { class: 'form-select w-auto mw-100', id: 'ev-type', 'aria-label': t('ev.type') },
    h('option', { value: '', text: t('ev.all_types') }),
    TYPES.map((x) => h('option', { value: x, selected: x === state.type, text: t(`ev.type.${x}`) })));
  const newestBtn = h('button', { type: 'button', class: 'btn', id: 'ev-newest' }, icon('first'), t('ev.newest'));
  const olderBtn = h('button', { type: 'button', class: 'btn', id: 'ev-older' }, t('ev.older'), icon('next'));
  const tbody = h('tbody');
  const tableWrap = h('div', { class: 'table-responsive' },
    h('table', { class: 'table table-vcenter card-table', id: 'events-table' },
      h('thead', null, h('tr', null,
        h('th', { text: t('ev.time') }), h('th', { text: t('ev.server') }), h('th', { text: t('ev.type') }), h('th', { text: t('ev.message') }))),
      tbody));
  const empty = h('div', { class: 'card-body text-secondary', hidden: true, text: t('ev.none') });
  const errSlot = h('div');
  let nextBefore = null;

  root.append(pageHeader(t('ev.title')), errSlot,
    h('div', { class: 'card' },
      h('div', { class: 'card-header flex-wrap gap-2' },
        h('div', { class: 'd-flex flex-wrap gap-2 flex-grow-1' },
          h('label', { class: 'visually-hidden', for: 'ev-server', text: t('ev.server') }), serverSel,
          h('label', { class: 'visually-hidden', for: 'ev-type', text: t('ev.type') }), typeSel)),
      tableWrap, empty,
      h('div', { class: 'card-footer d-flex gap-2 justify-content-end' }, newestBtn, olderBtn)));

  function syncQuery() {
    replaceQuery({ server_id: state.serverId, type: state.type, before: state.before });
  }
  serverSel.addEventListener('change', () => {
    state.serverId = serverSel.value;
    state.before = '';
    syncQuery();
    poller.now();
  });
  typeSel.addEventListener('change', () => {
    state.type = typeSel.value;
    state.before = '';
    syncQuery();
    poller.now();
  });
  newestBtn.addEventListener('click', () => {
    state.before = '';
    syncQuery();
    poller.now();
  });
  olderBtn.addEventListener('click', () => {
    if (nextBefore === null) return;
    state.before = String(nextBefore);
    syncQuery();
    poller.now();
  });

  function fillServers(list) {
    const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    serverSel.replaceChildren(h('option', { value: '', text: t('ev.all_servers') }),
      ...sorted.map((s) => h('option', { value: String(s.id), selected: String(s.id) === state.serverId, text: s.name })));
    if (state.serverId && !sorted.some((s) => String(s.id) === state.serverId)) {
      serverSel.append(h('option', { value: state.serverId, selected: true, text: `#${state.serverId}` }));
    }
  }

  function row(ev) {
    const type = h('span', { class: `badge ${TYPE_CLASS[ev.type] || 'bg-secondary-lt'}`, text: TYPES.includes(ev.type) ? t(`ev.type.${ev.type}`) : ev.type });
    const server = ev.server_id !== null && ev.server_id !== undefined
      ? h('a', { href: `#/servers/${ev.server_id}`, text: ev.server_name })
      : h('span', null, ev.server_name, ' ', h('span', { class: 'text-secondary', text: t('ev.deleted_server') }));
    return h('tr', { dataset: { eventId: ev.id, type: ev.type } },
      h('td', { class: 'text-nowrap' },
        h('div', { class: 'ev-ago', text: fmtAgo(ev.ts) }),
        h('div', { class: 'ev-abs small text-secondary' }, h('time', { datetime: ev.ts, text: fmtTime(ev.ts) }))),
      h('td', null, server),
      h('td', null, type),
      h('td', { class: 'ev-message', text: eventText(ev), title: ev.message }));
  }

  let shownKey = '';
  async function refresh() {
    try {
      if (!state.servers) {
        state.servers = await api.serverFields('id,name');
        fillServers(state.servers);
      }
      const q = { limit: String(PAGE_SIZE) };
      if (state.serverId) q.server_id = state.serverId;
      if (state.type) q.type = state.type;
      if (state.before) q.before = state.before;
      const key = JSON.stringify(q);
      const res = await api.events(q);
      if (errSlot.firstChild) errSlot.replaceChildren();
      // Only the first page changes over time; an older page is fetched once.
      const evs = res.events || [];
      nextBefore = res.next_before ?? null;
      tbody.replaceChildren(...evs.map(row));
      tableWrap.hidden = !evs.length;
      empty.hidden = evs.length > 0;
      newestBtn.disabled = !state.before;
      olderBtn.disabled = nextBefore === null;
      shownKey = key;
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
    } finally {
      markRefreshed();
    }
  }

  const poller = startPoller(async () => {
    if (state.before && shownKey.includes(`"before":"${state.before}"`)) return;
    await refresh();
  }, 5000);
  return { unmount: () => poller.stop() };
}
