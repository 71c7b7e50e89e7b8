// SPDX-License-Identifier: MIT
// Add/edit server form (#/manage/add, #/manage/edit/{id}): client-side validation and the
// aggregator's field errors shown at the field, write-only token, and "Discover services"
// (the agent's unit catalog as checkboxes, saved to services[]).
import { ApiError, CancelledError, NetworkError, api } from '../api.js';
import { h, icon } from '../dom.js';
import { t } from '../i18n.js';
import { navigate } from '../route.js';
import { emptyState, errorAlert, flash, pageHeader } from '../ui.js';
import { validateServer } from '../validate.js';
import { keyChangedAlert, shortPin, tlsBadge } from '../tls.js';

const FIELD_IDS = {
  name: 'f-name', host: 'f-host', agent_port: 'f-port', token: 'f-token', services: 'f-services', enabled: 'f-enabled',
  tls: 'f-tls', tls_pin: 'f-pin', tls_ca_file: 'f-ca',
};
const PIN_RE = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;

function switchField(id, label, checked, hint) {
  const input = h('input', { class: 'form-check-input', type: 'checkbox', name: id, checked, id });
  const fb = h('div', { class: 'invalid-feedback', id: `${id}-error` });
  return {
    input,
    fb,
    el: h('div', { class: 'mb-3' }, h('label', { class: 'form-check form-switch mb-0', for: id },
      input, h('span', { class: 'form-check-label', text: label })), fb,
    hint ? h('small', { class: 'form-hint', id: `${id}-hint`, text: hint }) : null),
  };
}

function field(id, label, input, hint) {
  const fb = h('div', { class: 'invalid-feedback', id: `${id}-error` });
  input.id = id;
  input.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  return {
    input,
    fb,
    el: h('div', { class: 'mb-3' },
      h('label', { class: 'form-label', for: id, text: label }),
      input, fb,
      hint ? h('small', { class: 'form-hint', id: `${id}-hint`, text: hint }) : null),
  };
}

function parseServices(text) {
  return text.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
}

export function mount(root, { params }) {
  const editId = params[0] || null;
  const creating = !editId;
  let server = null;
  let alive = true;
  document.title = `${t(creating ? 'form.add_title' : 'mg.title')} · lanmon`;

  const header = pageHeader(t(creating ? 'form.add_title' : 'mg.title'),
    h('a', { class: 'btn', href: '#/manage' }, icon('back'), t('common.back')));
  const errSlot = h('div');
  root.append(header, errSlot);

  const name = field(FIELD_IDS.name, t('form.name'), h('input', { class: 'form-control', type: 'text', name: 'name', autocomplete: 'off', required: true }), t('form.name_hint'));
  const host = field(FIELD_IDS.host, t('form.host'), h('input', { class: 'form-control', type: 'text', name: 'host', autocomplete: 'off', spellcheck: 'false', required: true }), t('form.host_hint'));
  const port = field(FIELD_IDS.agent_port, t('form.port'), h('input', { class: 'form-control', type: 'number', name: 'agent_port', inputmode: 'numeric', min: '1', max: '65535', step: '1', value: '9109', required: true }), null);
  const token = field(FIELD_IDS.token, t('form.token'), h('input', { class: 'form-control', type: 'password', name: 'token', autocomplete: 'new-password', spellcheck: 'false', required: creating }), t('form.token_hint'));
  const services = field(FIELD_IDS.services, t('form.services'), h('textarea', { class: 'form-control font-monospace', name: 'services', rows: '3', spellcheck: 'false' }), t('form.services_hint'));
  const enabledInput = h('input', { class: 'form-check-input', type: 'checkbox', name: 'enabled', checked: true, id: FIELD_IDS.enabled });
  const enabledFb = h('div', { class: 'invalid-feedback', id: `${FIELD_IDS.enabled}-error` });
  const enabled = {
    input: enabledInput,
    fb: enabledFb,
    el: h('div', { class: 'mb-3' }, h('label', { class: 'form-check form-switch', for: FIELD_IDS.enabled },
      enabledInput, h('span', { class: 'form-check-label', text: t('form.enabled') })), enabledFb),
  };
  const tls = switchField(FIELD_IDS.tls, t('form.tls'), true, t('form.tls_hint'));
  const pin = field(FIELD_IDS.tls_pin, t('form.pin'), h('input', { class: 'form-control font-monospace', type: 'text', name: 'tls_pin', autocomplete: 'off', spellcheck: 'false', placeholder: 'sha256//…' }), t('form.pin_hint'));
  const ca = field(FIELD_IDS.tls_ca_file, t('form.ca'), h('input', { class: 'form-control', type: 'text', name: 'tls_ca_file', autocomplete: 'off', spellcheck: 'false' }), t('form.ca_hint'));
  const tlsState = h('div', { class: 'mb-3', id: 'form-tls-state' });
  const tlsBox = h('fieldset', { class: 'form-fieldset', id: 'form-tls' }, tls.el, tlsState, pin.el, ca.el);
  const keySlot = h('div');
  const syncTls = () => {
    pin.input.disabled = !tls.input.checked;
    ca.input.disabled = !tls.input.checked;
  };
  tls.input.addEventListener('change', syncTls);
  const fields = { name, host, agent_port: port, token, services, enabled, tls, tls_pin: pin, tls_ca_file: ca };

  const formAlert = h('div', { class: 'alert alert-danger', role: 'alert', hidden: true, id: 'form-alert' });
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'form-save', text: t('form.save') });
  const discoverBtn = h('button', { type: 'button', class: 'btn', id: 'discover-btn', disabled: creating }, icon('list'), t('form.discover'));
  const discoverPanel = h('div', { id: 'discover-panel' });
  const form = h('form', { class: 'card', novalidate: true, id: 'server-form' },
    h('div', { class: 'card-body' }, formAlert, keySlot,
      h('div', { class: 'row' },
        h('div', { class: 'col-12 col-md-6' }, name.el),
        h('div', { class: 'col-12 col-md-6' }, host.el),
        h('div', { class: 'col-12 col-md-4' }, port.el),
        h('div', { class: 'col-12 col-md-8' }, token.el)),
      tlsBox, services.el, enabled.el),
    h('div', { class: 'card-footer d-flex flex-wrap gap-2 align-items-center' },
      saveBtn, h('a', { class: 'btn btn-link', href: '#/manage', text: t('common.cancel') }),
      h('div', { class: 'ms-auto d-flex align-items-center gap-2' },
        creating ? h('small', { class: 'text-secondary', text: t('form.discover_add_first') }) : null, discoverBtn)));
  const loading = h('div', { class: 'text-secondary', text: t('common.loading') });

  function values() {
    return {
      name: name.input.value.trim(),
      host: host.input.value.trim(),
      port: port.input.value.trim(),
      token: token.input.value,
      services: parseServices(services.input.value),
      enabled: enabledInput.checked,
      tls: tls.input.checked,
      tls_pin: pin.input.value.trim(),
      tls_ca_file: ca.input.value.trim(),
    };
  }

  function clearErrors() {
    formAlert.hidden = true;
    formAlert.textContent = '';
    for (const f of Object.values(fields)) {
      f.input.classList.remove('is-invalid');
      f.input.removeAttribute('aria-invalid');
      f.fb.textContent = '';
    }
  }

  // errs: {field: message}; unknown fields go to the alert at the top.
  function showErrors(errs, general) {
    let first = null;
    const extra = [];
    for (const [k, msg] of Object.entries(errs)) {
      const f = fields[k];
      if (!f) {
        extra.push(`${k}: ${msg}`);
        continue;
      }
      f.input.classList.add('is-invalid');
      f.input.setAttribute('aria-invalid', 'true');
      f.fb.textContent = msg;
      if (!first) first = f.input;
    }
    const text = [general, ...extra].filter(Boolean).join(' ');
    if (text) {
      formAlert.textContent = text;
      formAlert.hidden = false;
    }
    if (first) first.focus();
    else if (text) formAlert.scrollIntoView({ block: 'nearest' });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const v = values();
    const errs = validateServer(v, creating);
    if (v.tls && v.tls_pin && !PIN_RE.test(v.tls_pin)) errs.tls_pin = ['form.pin_invalid', {}];
    if (Object.keys(errs).length) {
      const msgs = {};
      for (const [k, [key, vars]] of Object.entries(errs)) msgs[k] = t(key, vars);
      showErrors(msgs, t('form.errors'));
      return;
    }
    const body = { name: v.name, host: v.host, agent_port: Number(v.port), services: v.services, enabled: v.enabled, tls: v.tls };
    if (v.token) body.token = v.token;
    // The pin and CA file are sent only when they changed: a save never undoes a pin the
    // aggregator took at the first contact meanwhile.
    if (v.tls && v.tls_pin !== ((server && server.tls_pin) || '')) body.tls_pin = v.tls_pin;
    if (v.tls && v.tls_ca_file !== ((server && server.tls_ca_file) || '')) body.tls_ca_file = v.tls_ca_file;
    saveBtn.disabled = true;
    saveBtn.textContent = t('form.saving');
    try {
      const saved = creating ? await api.create(body) : await api.update(editId, body);
      token.input.value = '';
      flash(t('mg.saved', { name: saved && saved.name ? saved.name : v.name }), 'success', true);
      if (alive) navigate('#/manage');
    } catch (e) {
      if (e instanceof CancelledError) {
        showErrors({}, t('admin.cancelled'));
      } else if (e instanceof ApiError && Object.keys(e.fields).length) {
        showErrors(e.fields, e.status === 409 ? '' : t('form.errors'));
      } else {
        showErrors({}, e.message);
      }
    } finally {
      saveBtn.disabled = false;
      saveBtn.textContent = t('form.save');
    }
  });

  // ---- discover services ------------------------------------------------------------------
  discoverBtn.addEventListener('click', async () => {
    if (!editId) return;
    discoverBtn.disabled = true;
    discoverPanel.replaceChildren(h('div', { class: 'card mt-3' }, h('div', { class: 'card-body text-secondary', text: t('form.discover_loading') })));
    try {
      const cat = await api.catalog(editId);
      if (alive) renderCatalog(cat);
    } catch (e) {
      if (alive) discoverPanel.replaceChildren(h('div', { class: 'mt-3' }, errorAlert(e.message)));
    } finally {
      discoverBtn.disabled = false;
    }
  });

  function renderCatalog(cat) {
    const list = [...(cat.services || [])].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const current = new Set(parseServices(services.input.value));
    const boxes = [];
    const items = list.map((u, i) => {
      const box = h('input', { class: 'form-check-input', type: 'checkbox', value: u.name, id: `svc-${i}`, checked: current.has(u.name) });
      boxes.push(box);
      const active = u.active_state || t('det.unit.unknown');
      return h('label', { class: 'list-group-item d-flex gap-3 align-items-start', for: `svc-${i}`, dataset: { unit: u.name } },
        box,
        h('span', { class: 'flex-grow-1 min-w-0' },
          h('span', { class: 'fw-bold me-2 text-break', text: u.name }),
          h('span', { class: `badge me-1 ${active === 'active' ? 'bg-success-lt' : active === 'failed' ? 'bg-danger-lt' : 'bg-secondary-lt'}`, text: u.sub_state ? `${active}/${u.sub_state}` : active }),
          u.unit_file_state ? h('span', { class: 'badge bg-secondary-lt', text: u.unit_file_state }) : null,
          u.description ? h('span', { class: 'd-block small text-secondary text-break', text: u.description }) : null));
    });
    const msg = h('div', { class: 'small', role: 'status', id: 'discover-msg' });
    const save = h('button', { type: 'button', class: 'btn btn-primary', id: 'discover-save', text: t('form.discover_save') });
    save.addEventListener('click', async () => {
      const inCatalog = new Set(list.map((u) => u.name));
      const kept = parseServices(services.input.value).filter((u) => !inCatalog.has(u));
      const picked = boxes.filter((b) => b.checked).map((b) => b.value);
      const next = [...kept, ...picked];
      save.disabled = true;
      msg.className = 'small';
      msg.textContent = '';
      try {
        const saved = await api.update(editId, { services: next });
        const names = (saved && saved.services) || next;
        services.input.value = names.join('\n');
        msg.className = 'small text-success';
        msg.textContent = t('form.discover_saved', { n: names.length });
      } catch (e) {
        msg.className = 'small text-danger';
        msg.textContent = e instanceof CancelledError ? t('admin.cancelled')
          : (e instanceof ApiError && e.fields.services) ? e.fields.services : e.message;
      } finally {
        save.disabled = false;
      }
    });
    discoverPanel.replaceChildren(h('div', { class: 'card mt-3' },
      h('div', { class: 'card-header' }, h('h2', { class: 'card-title', text: t('form.discover_title') })),
      list.length
        ? h('div', { class: 'list-group list-group-flush', id: 'discover-list' }, items)
        : h('div', { class: 'card-body text-secondary' }, t('form.discover_empty'), cat.hint ? h('div', { class: 'mt-1', text: cat.hint }) : null),
      h('div', { class: 'card-footer d-flex flex-wrap gap-3 align-items-center' },
        list.length ? save : null,
        h('small', { class: 'text-secondary', text: t('form.discover_hint') }), msg)));
  }

  // ---- load --------------------------------------------------------------------------------
  if (creating) {
    root.append(form, discoverPanel);
    name.input.focus();
  } else {
    root.append(loading);
    api.server(editId).then((s) => {
      if (!alive) return;
      server = s;
      loading.remove();
      header.querySelector('.page-title').textContent = t('form.edit_title', { name: s.name });
      document.title = `${t('form.edit_title', { name: s.name })} · lanmon`;
      name.input.value = s.name;
      host.input.value = s.host;
      port.input.value = String(s.agent_port);
      token.input.placeholder = s.token_set ? t('form.token_keep') : t('form.token_unset');
      services.input.value = (s.services || []).join('\n');
      enabledInput.checked = Boolean(s.enabled);
      tls.input.checked = Boolean(s.tls);
      pin.input.value = s.tls_pin || '';
      ca.input.value = s.tls_ca_file || '';
      syncTls();
      tlsState.replaceChildren(tlsBadge(s), s.tls_pin ? h('span', { class: 'ms-2 font-monospace small', title: s.tls_pin, text: shortPin(s.tls_pin) }) : '');
      if (s.tls_state === 'key_changed') {
        keySlot.replaceChildren(keyChangedAlert(editId, () => {
          pin.input.value = '';
          server = { ...server, tls_pin: null };
        }));
      }
      root.append(form, discoverPanel);
    }).catch((e) => {
      if (!alive) return;
      loading.remove();
      if (e instanceof ApiError && e.status === 404) {
        errSlot.replaceChildren(emptyState(t('form.not_found', { id: editId }), h('a', { class: 'btn btn-primary', href: '#/manage', text: t('common.back') })));
      } else {
        errSlot.replaceChildren(errorAlert(e instanceof NetworkError ? t('conn.lost') : e.message));
      }
    });
  }
  return {
    unmount() {
      alive = false;
      return server;
    },
  };
}
