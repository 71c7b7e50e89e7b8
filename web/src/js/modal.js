// SPDX-License-Identifier: MIT
// Modal dialogs with Tabler's markup (no Bootstrap JS): a generic one, a confirmation and the
// admin-token prompt. Escape or the backdrop cancel; focus returns to where it was.
import { h } from './dom.js';
import { t } from './i18n.js';

let seq = 0;

// buttons: [{label, class, value, submit}], returns a Promise of the clicked button's value,
// or null when cancelled. onSubmit(value) may return false to keep the dialog open.
export function openModal({ title, body, buttons, size = '', onSubmit, initialFocus }) {
  return new Promise((resolve) => {
    const id = `modal-${++seq}`;
    const before = document.activeElement;
    const backdrop = h('div', { class: 'modal-backdrop fade show' });
    const footer = h('div', { class: 'modal-footer' });
    const form = h('form', { class: 'modal-content', novalidate: true },
      h('div', { class: 'modal-header' },
        h('h2', { class: 'modal-title h3', id: `${id}-title`, text: title }),
        h('button', { type: 'button', class: 'btn-close', 'aria-label': t('common.close'),
          on: { click: () => done(null) } })),
      h('div', { class: 'modal-body' }, body),
      footer);
    const dialog = h('div', {
      class: 'modal modal-blur fade show d-block', id, role: 'dialog', 'aria-modal': 'true',
      'aria-labelledby': `${id}-title`, tabindex: '-1',
    }, h('div', { class: `modal-dialog modal-dialog-centered ${size}`, role: 'document' }, form));

    let submitValue = null;
    for (const b of buttons) {
      footer.appendChild(h('button', {
        type: b.submit ? 'submit' : 'button',
        class: `btn ${b.class || ''}`,
        text: b.label,
        on: {
          click: () => {
            if (b.submit) submitValue = b.value;
            else done(b.value);
          },
        },
      }));
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = submitValue;
      if (onSubmit && onSubmit(v) === false) return;
      done(v);
    });
    dialog.addEventListener('mousedown', (ev) => {
      if (ev.target === dialog) done(null);
    });
    dialog.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        done(null);
      } else if (ev.key === 'Tab') {
        trapTab(ev, dialog);
      }
    });

    function done(v) {
      dialog.remove();
      backdrop.remove();
      document.body.classList.remove('modal-open');
      if (before && before.focus && document.contains(before)) before.focus();
      resolve(v);
    }

    document.body.classList.add('modal-open');
    document.body.append(backdrop, dialog);
    const focusEl = (initialFocus && initialFocus()) || form.querySelector('input, .btn-primary, .btn-danger, button');
    if (focusEl) focusEl.focus();
  });
}

function trapTab(ev, root) {
  const f = [...root.querySelectorAll('button, input, select, textarea, a[href]')]
    .filter((e) => !e.disabled && e.offsetParent !== null);
  if (!f.length) return;
  const first = f[0], last = f[f.length - 1];
  if (ev.shiftKey && document.activeElement === first) {
    ev.preventDefault();
    last.focus();
  } else if (!ev.shiftKey && document.activeElement === last) {
    ev.preventDefault();
    first.focus();
  }
}

export function confirmDialog({ title, text, hint, okLabel, okClass = 'btn-danger' }) {
  return openModal({
    title,
    body: h('div', null, h('p', { class: 'mb-2', text }), hint ? h('p', { class: 'text-secondary mb-0', text: hint }) : null),
    buttons: [
      { label: t('common.cancel'), class: 'btn-link link-secondary me-auto', value: null },
      { label: okLabel, class: okClass, value: true, submit: true },
    ],
    initialFocus: () => null,
  }).then((v) => v === true);
}

// Asks for the admin token; `reason` is the aggregator's error text after a 401/403.
export function askAdminToken(reason) {
  const input = h('input', {
    class: 'form-control', type: 'password', id: 'admin-token-input', name: 'admin-token',
    autocomplete: 'current-password', spellcheck: 'false',
  });
  const fb = h('div', { class: 'invalid-feedback' });
  const body = h('div', null,
    reason ? h('div', { class: 'alert alert-danger', role: 'alert', text: t('admin.rejected', { reason }) }) : null,
    h('p', { class: 'text-secondary', text: t('admin.text') }),
    h('label', { class: 'form-label', for: 'admin-token-input', text: t('admin.label') }),
    input, fb);
  let value = null;
  return openModal({
    title: t('admin.title'),
    body,
    buttons: [
      { label: t('common.cancel'), class: 'btn-link link-secondary me-auto', value: null },
      { label: t('common.ok'), class: 'btn-primary', value: 'ok', submit: true },
    ],
    initialFocus: () => input,
    onSubmit: () => {
      value = input.value.trim();
      if (!value) {
        input.classList.add('is-invalid');
        fb.textContent = t('admin.required');
        input.focus();
        return false;
      }
      return true;
    },
  }).then((v) => (v === 'ok' ? value : null));
}
