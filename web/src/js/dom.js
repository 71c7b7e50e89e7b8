// SPDX-License-Identifier: MIT
// DOM helpers: elements are built with createElement and text nodes only (never HTML parsing
// of data), a few line icons drawn as SVG, and small update helpers that touch the DOM only
// when a value changed.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('div', {class: 'x', text: 'y', attrs..., on: {click: fn}}, child, 'text', [more])
// Strings and numbers become text nodes; null/undefined/false children are skipped.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    switch (k) {
      case 'class':
        el.className = v;
        break;
      case 'text':
        el.textContent = String(v);
        break;
      case 'on':
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
        break;
      case 'dataset':
        for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
        break;
      case 'value':
      case 'checked':
      case 'disabled':
      case 'selected':
      case 'hidden':
      case 'htmlFor':
        el[k] = v;
        break;
      case 'innerHTML':
      case 'outerHTML':
        throw new Error('h(): HTML strings are not allowed');
      default:
        el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function setText(el, s) {
  const v = s === null || s === undefined ? '' : String(s);
  if (el.textContent !== v) el.textContent = v;
}

export function setAttr(el, name, v) {
  if (v === null || v === undefined || v === false) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else {
    const s = v === true ? '' : String(v);
    if (el.getAttribute(name) !== s) el.setAttribute(name, s);
  }
}

export function setClass(el, cls) {
  if (el.className !== cls) el.className = cls;
}

// Stroke icons on a 24×24 grid (drawn for this project).
const ICONS = {
  server: ['M5 4h14a2 2 0 0 1 2 2v3a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    'M5 13h14a2 2 0 0 1 2 2v3a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-3a2 2 0 0 1 2-2z', 'M7 7.5h.01',
    'M7 16.5h.01'],
  sun: ['M12 8a4 4 0 1 0 0 8a4 4 0 1 0 0-8z', 'M12 2v2', 'M12 20v2', 'M4.9 4.9l1.4 1.4',
    'M17.7 17.7l1.4 1.4', 'M2 12h2', 'M20 12h2', 'M4.9 19.1l1.4-1.4', 'M17.7 6.3l1.4-1.4'],
  moon: ['M20 14.5A8 8 0 0 1 9.5 4a8 8 0 1 0 10.5 10.5z'],
  globe: ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M3.6 9h16.8', 'M3.6 15h16.8',
    'M12 3c-2.5 2.5-3.5 5.5-3.5 9s1 6.5 3.5 9', 'M12 3c2.5 2.5 3.5 5.5 3.5 9s-1 6.5-3.5 9'],
  plus: ['M12 5v14', 'M5 12h14'],
  edit: ['M4 20h4L19 9a2.8 2.8 0 0 0-4-4L4 16v4z', 'M13.5 6.5l4 4'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M5 7l1 12a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2l1-12',
    'M9 7V4h6v3'],
  power: ['M12 3v8', 'M7.5 6.3a7 7 0 1 0 9 0'],
  search: ['M10 3a7 7 0 1 0 0 14a7 7 0 1 0 0-14z', 'M21 21l-6-6'],
  alert: ['M12 9v4', 'M12 17h.01',
    'M10.3 3.9L2.4 18a2 2 0 0 0 1.7 3h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z'],
  back: ['M15 6l-6 6l6 6'],
  next: ['M9 6l6 6l-6 6'],
  first: ['M11 7l-5 5l5 5', 'M17 7l-5 5l5 5'],
  key: ['M7.5 11a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9z', 'M10.7 12.3L21 2', 'M17 6l2.5 2.5',
    'M14.5 8.5l2 2'],
  lock: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 1 1 8 0v4'],
  lockOpen: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 0 1 7.5-2'],
  list: ['M9 6h11', 'M9 12h11', 'M9 18h11', 'M5 6h.01', 'M5 12h.01', 'M5 18h.01'],
};

export function icon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '24');
  svg.setAttribute('height', '24');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}

// Keeps the children of `parent` in the order of `items`, creating a view per new key and
// updating existing ones in place (so focus and clicks survive a refresh).
// views: Map key -> {el, update(item)}; create(item) -> {el, update(item)}.
export function syncKeyed(parent, views, items, keyOf, create) {
  const seen = new Set();
  let prev = null;
  for (const item of items) {
    const k = keyOf(item);
    seen.add(k);
    let v = views.get(k);
    if (!v) {
      v = create(item);
      views.set(k, v);
    }
    v.update(item);
    const want = prev ? prev.nextSibling : parent.firstChild;
    if (want !== v.el) parent.insertBefore(v.el, want);
    prev = v.el;
  }
  for (const [k, v] of views) {
    if (!seen.has(k)) {
      v.el.remove();
      views.delete(k);
    }
  }
}
