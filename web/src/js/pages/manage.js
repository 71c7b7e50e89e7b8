// SPDX-License-Identifier: MIT
// Manage servers (#/manage): the server table with edit, enable/disable and delete (after a
// confirmation that says the history goes too), and the admin-token state of this session.
import { CancelledError, NetworkError, adminToken, api, setAdminToken } from '../api.js';
import { h, icon, setAttr, setText, syncKeyed } from '../dom.js';
import { t } from '../i18n.js';
import { confirmDialog, askAdminToken } from '../modal.js';
import { errorAlert, flash, markRefreshed, pageHeader, startPoller, statusBadge, updateStatusBadge } from '../ui.js';
import { tlsBadge } from '../tls.js';

export function mount(root) {
  document.title = `${t('mg.title')} · lanmon`;
  const views = new Map();
  const tbody = h('tbody', { id: 'manage-rows' });
  const errSlot = h('div');
  const empty = h('div', { class: 'card-body text-secondary', hidden: true, text: t('mg.empty') });
  const tokenState = h('div', { class: 'd-flex align-items-center gap-2 small text-secondary', id: 'admin-state' });
  let list = [];

  function renderTokenState() {
    const has = Boolean(adminToken());
    tokenState.replaceChildren(icon('key', 'icon'), h('span', { text: t(has ? 'mg.admin_set' : 'mg.admin_unset') }),
      h('button', {
        type: 'button', class: 'btn btn-sm btn-link p-0', id: has ? 'admin-forget' : 'admin-enter',
        text: t(has ? 'mg.admin_forget' : 'mg.admin_enter'),
        on: {
          click: async () => {
            if (has) setAdminToken('');
            else {
              const v = await askAdminToken(null);
              if (v) setAdminToken(v);
            }
            renderTokenState();
          },
        },
      }));
  }

  root.append(
    pageHeader(t('mg.title'), h('a', { class: 'btn btn-primary', href: '#/manage/add', id: 'add-server' }, icon('plus'), t('mg.add'))),
    errSlot,
    h('div', { class: 'card' },
      h('div', { class: 'card-header' }, tokenState),
      h('div', { class: 'table-responsive' },
        h('table', { class: 'table table-vcenter card-table', id: 'manage-table' },
          h('thead', null, h('tr', null,
            h('th', { text: t('mg.name') }), h('th', { text: t('mg.address') }), h('th', { text: t('mg.status') }),
            h('th', { text: t('mg.units') }), h('th', { class: 'text-end', text: t('mg.actions') }))),
          tbody)),
      empty));
  renderTokenState();

  async function mutate(fn) {
    try {
      await fn();
      errSlot.replaceChildren();
      return true;
    } catch (e) {
      if (!(e instanceof CancelledError)) errSlot.replaceChildren(errorAlert(e.message));
      return false;
    } finally {
      renderTokenState();
      poller.now();
    }
  }

  function createRow(s) {
    const name = h('a', { class: 'mg-name' });
    const addr = h('td', { class: 'text-secondary text-nowrap' });
    const badge = statusBadge();
    const tlsSlot = h('span', { class: 'ms-1' });
    let tlsShown = null;
    const units = h('td', { class: 'mg-units' });
    const edit = h('a', { class: 'btn btn-sm', dataset: { action: 'edit' } }, icon('edit', 'icon me-1'), h('span', { text: t('common.edit') }));
    const toggleLabel = h('span');
    const toggle = h('button', { type: 'button', class: 'btn btn-sm', dataset: { action: 'toggle' } }, icon('power', 'icon me-1'), toggleLabel);
    const del = h('button', { type: 'button', class: 'btn btn-sm btn-outline-danger', dataset: { action: 'delete' } }, icon('trash', 'icon me-1'), h('span', { text: t('common.delete') }));
    const el = h('tr', { dataset: { serverId: s.id } },
      h('td', null, name), addr, h('td', { class: 'text-nowrap' }, badge, tlsSlot), units,
      h('td', { class: 'text-end' }, h('div', { class: 'btn-list flex-nowrap justify-content-end' }, edit, toggle, del)));
    let cur = s;

    toggle.addEventListener('click', async () => {
      const s2 = cur;
      toggle.disabled = true;
      const ok = await mutate(() => api.update(s2.id, { enabled: !s2.enabled }));
      toggle.disabled = false;
      if (ok) flash(t(s2.enabled ? 'mg.disabled_msg' : 'mg.enabled_msg', { name: s2.name }));
    });
    del.addEventListener('click', async () => {
      const s2 = cur;
      const yes = await confirmDialog({
        title: t('mg.confirm_delete_title'),
        text: t('mg.confirm_delete', { name: s2.name }),
        hint: t('mg.confirm_delete_hint'),
        okLabel: t('common.delete'),
      });
      if (!yes) return;
      const ok = await mutate(() => api.remove(s2.id));
      if (ok) flash(t('mg.deleted', { name: s2.name }));
    });

    return {
      el,
      update(x) {
        cur = x;
        setText(name, x.name);
        setAttr(name, 'href', `#/servers/${x.id}`);
        setText(addr, `${x.host}:${x.agent_port}`);
        updateStatusBadge(badge, x.status, x.last_error);
        if (tlsShown !== x.tls_state) {
          tlsShown = x.tls_state;
          tlsSlot.replaceChildren(tlsBadge(x));
        }
        setText(units, String((x.services || []).length));
        setAttr(units, 'title', (x.services || []).join(', ') || null);
        setAttr(edit, 'href', `#/manage/edit/${x.id}`);
        setAttr(edit, 'aria-label', `${t('common.edit')} ${x.name}`);
        setText(toggleLabel, t(x.enabled ? 'common.disable' : 'common.enable'));
        setAttr(toggle, 'aria-label', `${t(x.enabled ? 'common.disable' : 'common.enable')} ${x.name}`);
        setAttr(del, 'aria-label', `${t('common.delete')} ${x.name}`);
      },
    };
  }

  async function refresh() {
    try {
      list = await api.servers();
      list.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }) || a.id - b.id);
      syncKeyed(tbody, views, list, (s) => s.id, createRow);
      empty.hidden = list.length > 0;
    } catch (e) {
      if (!(e instanceof NetworkError)) errSlot.replaceChildren(errorAlert(e.message));
    } finally {
      markRefreshed();
    }
  }

  const poller = startPoller(refresh, 5000);
  return { unmount: () => poller.stop() };
}
