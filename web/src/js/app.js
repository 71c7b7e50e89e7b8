// SPDX-License-Identifier: MIT
// Dashboard entry point: navbar (pages, language, theme), hash router (#/, #/servers/{id},
// #/gpus, #/usage, #/events, #/manage, #/manage/add, #/manage/edit/{id}), the lost-connection banner
// and the overload banner (from /api/health every 15 s).
import { api, connection, onConnectionChange } from './api.js';
import { h, icon, setText } from './dom.js';
import { fmtAgo, fmtDurationMs, fmtTime, langSelect, onLangChange, t } from './i18n.js';
import * as overview from './pages/overview.js';
import * as detail from './pages/detail.js';
import * as events from './pages/events.js';
import * as gpus from './pages/gpus.js';
import * as usage from './pages/usage.js';
import * as manage from './pages/manage.js';
import * as serverForm from './pages/server_form.js';
import { parseHash } from './route.js';
import { showFlashes, startPoller } from './ui.js';

const ROUTES = [
  { re: /^\/?$/, page: overview, nav: 'overview' },
  { re: /^\/servers\/(\d+)$/, page: detail, nav: 'overview' },
  { re: /^\/gpus$/, page: gpus, nav: 'gpus' },
  { re: /^\/usage$/, page: usage, nav: 'usage' },
  { re: /^\/events$/, page: events, nav: 'events' },
  { re: /^\/manage$/, page: manage, nav: 'manage' },
  { re: /^\/manage\/add$/, page: serverForm, nav: 'manage' },
  { re: /^\/manage\/edit\/(\d+)$/, page: serverForm, nav: 'manage' },
];

const NAV = [
  { key: 'overview', href: '#/', label: 'nav.overview' },
  { key: 'gpus', href: '#/gpus', label: 'nav.gpus' },
  { key: 'usage', href: '#/usage', label: 'nav.usage' },
  { key: 'events', href: '#/events', label: 'nav.events' },
  { key: 'manage', href: '#/manage', label: 'nav.manage' },
];

let current = null; // {route, view}

// ---- theme -------------------------------------------------------------------------------
function theme() {
  return document.documentElement.getAttribute('data-bs-theme') === 'dark' ? 'dark' : 'light';
}

function setTheme(v) {
  document.documentElement.setAttribute('data-bs-theme', v);
  try {
    localStorage.setItem('lanmon.theme', v);
  } catch {
    /* not remembered */
  }
}

// ---- navbar ------------------------------------------------------------------------------
function renderNavbar(activeKey) {
  const bar = document.getElementById('navbar');
  const links = NAV.map((n) => h('li', { class: `nav-item${n.key === activeKey ? ' active' : ''}` },
    h('a', { class: 'nav-link', href: n.href, 'aria-current': n.key === activeKey ? 'page' : null, dataset: { nav: n.key } },
      h('span', { class: 'nav-link-title', text: t(n.label) }))));
  const langSel = langSelect();
  const dark = theme() === 'dark';
  const themeBtn = h('button', {
    type: 'button', class: 'btn btn-ghost-secondary btn-icon', id: 'theme-toggle',
    title: t(dark ? 'nav.theme.light' : 'nav.theme.dark'),
    'aria-label': t(dark ? 'nav.theme.light' : 'nav.theme.dark'),
    on: {
      click: () => {
        setTheme(theme() === 'dark' ? 'light' : 'dark');
        rerender();
      },
    },
  }, icon(dark ? 'sun' : 'moon'));
  bar.replaceChildren(h('div', { class: 'container-xl flex-wrap gap-2' },
    h('a', { class: 'navbar-brand navbar-brand-autodark me-3', href: '#/' }, icon('server', 'icon me-1 text-primary'), h('span', { text: t('app.name') })),
    h('nav', { class: 'order-3 order-md-2 flex-grow-1 flex-md-grow-0', 'aria-label': t('nav.main') },
      h('ul', { class: 'navbar-nav flex-row gap-1' }, links)),
    h('div', { class: 'navbar-nav flex-row order-2 order-md-3 ms-auto align-items-center gap-2' },
      h('span', { class: 'd-none d-sm-inline text-secondary' }, icon('globe', 'icon')), langSel, themeBtn)));
}

// ---- banners -----------------------------------------------------------------------------
let bannerTimer = null;

// Two places in #banner-slot: the lost-connection banner, then the overload banner.
function bannerPlace(id) {
  const slot = document.getElementById('banner-slot');
  let el = document.getElementById(id);
  if (!el) {
    el = h('div', { id });
    if (id === 'conn-slot') slot.prepend(el);
    else slot.append(el);
  }
  return el;
}

let lastHealth = null;

function renderOverload() {
  const slot = bannerPlace('load-slot');
  const poll = lastHealth && lastHealth.poll;
  if (!poll || !poll.overloaded) {
    if (slot.firstChild) slot.replaceChildren();
    return;
  }
  const text = t('load.overloaded', { lag: fmtDurationMs(poll.lag_ms), interval: fmtDurationMs(poll.interval_s * 1000) });
  slot.replaceChildren(h('div', { class: 'alert alert-warning mb-0 mt-2', role: 'status', id: 'overload-banner' },
    h('div', { class: 'd-flex align-items-center gap-2' }, icon('alert', 'icon alert-icon'), h('div', { text }))));
}

async function checkHealth() {
  try {
    lastHealth = await api.health();
  } catch {
    lastHealth = null; /* unreachable: the lost-connection banner says so */
  }
  renderOverload();
}

function renderBanner() {
  const slot = bannerPlace('conn-slot');
  const c = connection();
  if (c.ok) {
    slot.replaceChildren();
    clearInterval(bannerTimer);
    bannerTimer = null;
    return;
  }
  const text = h('div');
  const update = () => {
    const c2 = connection();
    setText(text, `${t('conn.lost')} ${c2.lastOkAt ? t('conn.last_ok', { time: fmtTime(c2.lastOkAt, false), ago: fmtAgo(c2.lastOkAt) }) : t('conn.never')} ${t('conn.retrying')}`);
  };
  update();
  slot.replaceChildren(h('div', { class: 'alert alert-danger mb-0', role: 'alert', id: 'conn-banner' },
    h('div', { class: 'd-flex align-items-center gap-2' }, icon('alert', 'icon alert-icon'), text)));
  clearInterval(bannerTimer);
  bannerTimer = setInterval(update, 1000);
}

// ---- router ------------------------------------------------------------------------------
function route() {
  const { path, query } = parseHash();
  for (const r of ROUTES) {
    const m = path.match(r.re);
    if (m) return { r, params: m.slice(1), query };
  }
  return { r: null, params: [], query };
}

function mount() {
  if (current && current.view && current.view.unmount) current.view.unmount();
  current = null;
  const view = document.getElementById('view');
  const { r, params, query } = route();
  renderNavbar(r ? r.nav : null);
  view.replaceChildren();
  if (!r) {
    document.title = `${t('common.page_not_found')} · lanmon`;
    view.append(h('div', { class: 'empty' }, h('p', { class: 'empty-title', text: t('common.page_not_found') }),
      h('div', { class: 'empty-action' }, h('a', { class: 'btn btn-primary', href: '#/', text: t('common.go_overview') }))));
    return;
  }
  current = { r, view: r.page.mount(view, { params, query, path: parseHash().path }) };
  showFlashes();
}

// Language or theme changed: rebuild navbar and view (charts pick up the theme colours).
function rerender() {
  mount();
  renderBanner();
  renderOverload();
}

window.addEventListener('hashchange', mount);
onLangChange(rerender);
onConnectionChange(renderBanner);
mount();
renderBanner();
startPoller(checkHealth, 15000);
