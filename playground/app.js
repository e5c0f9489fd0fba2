// The dashboard: wires identity, the board, the live subscription, the task
// detail, the create form, the account dialog and the figures. It uses only
// the public GraphQL API (`/graphql` and `taskEvents` on `/graphql/ws`).

import { gql, session, setToken, setActor, ApiError } from './api.js';
import { Board, STATUSES, esc, taskFilter, countdown } from './board.js';
import { LiveEvents } from './live.js';
import { Detail } from './detail.js';
import { CreateForm, createDialogHtml } from './create.js';
import { Account, accountDialogHtml } from './account.js';
import { sparkline, bars } from './charts.js';
import { signinHtml, wireSignin, ME } from './signin.js';

const FILTER_KEYS = ['org', 'project', 'channel', 'type', 'assignee', 'pmin', 'pmax', 'q'];
const $ = (sel) => document.querySelector(sel);

const state = {
  filters: readUrl(),
  openTask: new URLSearchParams(location.search).get('task'),
  view: readView(), // 'account' while the account dialog is open
  loaded: false,
  buffer: [],
  depth: new Map(), // channel -> recent pending counts
  completions: new Map(), // minute -> count
  authRequired: false,
};

function readUrl() {
  const p = new URLSearchParams(location.search);
  const f = {};
  for (const k of FILTER_KEYS) f[k] = p.get(k) || '';
  f.org = f.org || 'default';
  f.project = f.project || 'main';
  return f;
}

function readView() {
  return new URLSearchParams(location.search).get('view') === 'account' ? 'account' : null;
}

function writeUrl({ push = false } = {}) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = state.filters[k];
    if (v && !((k === 'org' && v === 'default') || (k === 'project' && v === 'main'))) p.set(k, v);
  }
  if (state.openTask) p.set('task', state.openTask);
  if (state.view) p.set('view', state.view);
  const url = `${location.pathname}${p.toString() ? `?${p}` : ''}`;
  if (url !== `${location.pathname}${location.search}`) history[push ? 'pushState' : 'replaceState'](null, '', url);
}

// ---- connection indicator -------------------------------------------------

function setConn(s, detail = '') {
  const el = $('#conn');
  el.dataset.state = s;
  const text = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', denied: 'Not connected', error: 'Error', offline: 'Signed out' }[s] || s;
  el.querySelector('.conn-text').textContent = detail ? `${text} (${detail})` : text;
  if (s === 'denied') startSignin(detail);
}

// ---- live events ------------------------------------------------------------

const live = new LiveEvents({
  onEvent: (ev) => (state.loaded ? apply(ev) : state.buffer.push(ev)),
  onState: setConn,
  onResync: () => reload(),
});

function apply(ev) {
  addToFeed(ev);
  if (ev.task) board.upsert(ev.task);
  else if (ev.type === 'task.deleted') board.remove(ev.taskId);
  if (ev.type === 'task.completed') {
    const minute = Math.floor(Date.parse(ev.createdAt) / 60000);
    state.completions.set(minute, (state.completions.get(minute) || 0) + 1);
  }
  if (detail.id && String(ev.taskId) === detail.id) detail.refreshSoon();
  figuresSoon();
}

function addToFeed(ev) {
  const feed = $('#feed');
  if (feed.querySelector(`[data-event-id="${CSS.escape(String(ev.id))}"]`)) return;
  const li = document.createElement('li');
  li.dataset.eventId = ev.id;
  li.dataset.taskId = ev.taskId;
  const who = ev.actor ? (ev.actor.name || `${String(ev.actor.type).toLowerCase()}:${ev.actor.id}`) : '';
  const t = new Date(ev.createdAt);
  li.innerHTML = `<time datetime="${esc(ev.createdAt)}">${esc(t.toLocaleTimeString())}</time> <code>${esc(ev.type)}</code>
    <a href="?task=${esc(ev.taskId)}" data-open="${esc(ev.taskId)}">#${esc(ev.taskId)}${ev.task ? ` ${esc(ev.task.title)}` : ''}</a>
    <span class="muted">by ${esc(who)} · event ${esc(ev.id)}</span>`;
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastElementChild.remove();
}

// ---- figures ------------------------------------------------------------------

let figuresTimer = null;
let figuresBusy = false;
function figuresSoon(delay = 400) {
  clearTimeout(figuresTimer);
  figuresTimer = setTimeout(refreshFigures, delay);
}

async function refreshFigures() {
  if (figuresBusy) { figuresSoon(); return; }
  figuresBusy = true;
  try {
    const f = state.filters;
    const stats = await gql(`query($org: String, $project: String) { stats(org: $org, project: $project) {
      total completedCount avgCompletionSeconds byStatus { status count } byChannel { channel count }
      recent { created24h completed24h created7d completed7d } } }`, { org: f.org, project: f.project });
    const channels = stats.stats.byChannel.map((c) => c.channel).slice(0, 8);
    const vars = { org: f.org, project: f.project };
    const parts = [];
    STATUSES.forEach((s, i) => { vars[`s${i}`] = taskFilter(f, s); parts.push(`s${i}: tasks(filter: $s${i}, first: 0) { totalCount }`); });
    channels.forEach((c, i) => { vars[`c${i}`] = { org: f.org, project: f.project, statuses: ['PENDING'], channels: [c] }; parts.push(`c${i}: tasks(filter: $c${i}, first: 0) { totalCount }`); });
    const decl = Object.keys(vars).filter((k) => k !== 'org' && k !== 'project').map((k) => `$${k}: TaskFilter`).join(', ');
    const counts = await gql(`query(${decl}) { ${parts.join(' ')} }`, Object.fromEntries(Object.entries(vars).filter(([k]) => k !== 'org' && k !== 'project')));
    const totals = {};
    STATUSES.forEach((s, i) => { totals[s] = counts[`s${i}`].totalCount; });
    board.setTotals(totals);
    channels.forEach((c, i) => {
      const h = state.depth.get(c) || [];
      h.push(counts[`c${i}`].totalCount);
      while (h.length > 30) h.shift();
      state.depth.set(c, h);
    });
    renderFigures(stats.stats, channels);
    const dl = $('#channels-list');
    dl.innerHTML = stats.stats.byChannel.map((c) => `<option value="${esc(c.channel)}"></option>`).join('');
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') startSignin(e.message);
  } finally {
    figuresBusy = false;
  }
}

function renderFigures(s, channels) {
  const by = Object.fromEntries(s.byStatus.map((b) => [b.status.toLowerCase(), b.count]));
  const counter = (label, value, key) => `<div class="counter" data-counter="${key}"><span class="value">${esc(value)}</span><span class="label">${label}</span></div>`;
  const avg = s.avgCompletionSeconds == null ? '—' : s.avgCompletionSeconds < 120 ? `${s.avgCompletionSeconds.toFixed(1)} s` : `${(s.avgCompletionSeconds / 60).toFixed(1)} min`;
  $('#counters').innerHTML = [
    counter('tasks', s.total, 'total'),
    counter('pending', by.pending || 0, 'pending'),
    counter('in progress', by.in_progress || 0, 'in_progress'),
    counter('completed', s.completedCount, 'completed'),
    counter('failed', by.failed || 0, 'failed'),
    counter('created 24 h', s.recent.created24h, 'created24h'),
    counter('done 24 h', s.recent.completed24h, 'completed24h'),
    counter('avg time to done', avg, 'avg'),
  ].join('');
  const depth = $('#depth');
  depth.innerHTML = '';
  if (!channels.length) depth.innerHTML = '<li class="muted">No tasks yet.</li>';
  for (const c of channels) {
    const h = state.depth.get(c) || [0];
    const li = document.createElement('li');
    li.innerHTML = `<span class="chan">#${esc(c)}</span> <span class="value">${h[h.length - 1]}</span>`;
    li.append(sparkline(h, { label: `pending tasks on ${c}: ${h.join(', ')}` }));
    depth.append(li);
  }
  renderCompletions();
}

function renderCompletions() {
  const now = Math.floor(Date.now() / 60000);
  const values = [];
  for (let m = now - 14; m <= now; m += 1) values.push(state.completions.get(m) || 0);
  const box = $('#cpm');
  box.innerHTML = '';
  box.append(bars(values, { label: `completions per minute, oldest first: ${values.join(', ')}` }));
  const last = document.createElement('span');
  last.className = 'value';
  last.textContent = ` ${values[values.length - 1]}/min now`;
  box.append(last);
}

// ---- board, detail, create ----------------------------------------------------

const board = new Board($('#board'), { onOpen: (id) => openTask(id, true) });
const detail = new Detail($('#detail'), {
  onClose: () => { const id = state.openTask; state.openTask = null; writeUrl(); const c = id && document.querySelector(`[data-task-id="${CSS.escape(id)}"] a.card-link`); if (c) c.focus(); },
  onOpen: (id) => openTask(id, true),
});
$('#create').innerHTML = createDialogHtml();
const create = new CreateForm($('#create'), {
  target: () => ({ org: state.filters.org, project: state.filters.project }),
  onCreated: (id) => openTask(id, true),
});

$('#account').innerHTML = accountDialogHtml();
const account = new Account($('#account'), {
  onClose: () => {
    if (!state.view) return;
    state.view = null;
    writeUrl();
    const b = $('#account-open');
    if (b) b.focus();
  },
  // The page's own key was revoked: forget it at once (the socket, closed
  // by the server, may already show the sign-in form).
  onEnded: () => { setToken(null); start(); },
  pauseLive: () => live.stop(),
  resumeLive: () => live.start(liveFilter(), { fresh: false }),
});

function openAccount(push) {
  state.view = 'account';
  writeUrl({ push });
  return account.open();
}

function openTask(id, push) {
  state.openTask = String(id);
  writeUrl({ push });
  return detail.open(id);
}

async function reload() {
  state.loaded = false;
  state.buffer = [];
  try {
    await board.load(state.filters);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') { startSignin(e.message); return; }
    $('#board').insertAdjacentHTML('afterbegin', `<p role="alert" class="error">${esc(e.message)}</p>`);
  }
  state.loaded = true;
  const pending = state.buffer;
  state.buffer = [];
  pending.forEach(apply);
  figuresSoon(0);
  document.body.dataset.ready = 'true';
}

function liveFilter() {
  return { projects: [`${state.filters.org}/${state.filters.project}`] };
}

async function switchView() {
  writeUrl();
  document.body.dataset.ready = 'false';
  state.depth.clear();
  state.completions.clear();
  $('#feed').innerHTML = '';
  state.loaded = false;
  const connected = live.start(liveFilter());
  await Promise.race([connected, new Promise((r) => setTimeout(r, 3000))]);
  await reload();
}

// ---- filters and org/project ----------------------------------------------

function fillFilterForm() {
  const form = $('#filters');
  for (const k of FILTER_KEYS) if (form.elements[k]) form.elements[k].value = state.filters[k];
}

let filterTimer = null;
$('#filters').addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => {
    const form = $('#filters');
    for (const k of ['channel', 'type', 'assignee', 'pmin', 'pmax', 'q']) state.filters[k] = form.elements[k].value.trim();
    writeUrl();
    reload();
  }, 250);
});
$('#filters').addEventListener('submit', (e) => e.preventDefault());
$('#clear-filters').addEventListener('click', () => {
  for (const k of ['channel', 'type', 'assignee', 'pmin', 'pmax', 'q']) state.filters[k] = '';
  fillFilterForm();
  writeUrl();
  reload();
});

async function loadOrgs() {
  const data = await gql('{ organizations { slug name projects { slug name } } }');
  const orgs = data.organizations;
  const orgSel = $('#f-org');
  orgSel.innerHTML = orgs.map((o) => `<option value="${esc(o.slug)}">${esc(o.name || o.slug)}</option>`).join('');
  if (!orgs.some((o) => o.slug === state.filters.org)) orgSel.insertAdjacentHTML('beforeend', `<option value="${esc(state.filters.org)}">${esc(state.filters.org)}</option>`);
  orgSel.value = state.filters.org;
  const fillProjects = () => {
    const o = orgs.find((x) => x.slug === orgSel.value);
    const projects = o ? o.projects : [];
    const sel = $('#f-project');
    sel.innerHTML = projects.map((p) => `<option value="${esc(p.slug)}">${esc(p.name || p.slug)}</option>`).join('');
    if (!projects.some((p) => p.slug === state.filters.project)) sel.insertAdjacentHTML('beforeend', `<option value="${esc(state.filters.project)}">${esc(state.filters.project)}</option>`);
    sel.value = state.filters.project;
  };
  fillProjects();
  orgSel.onchange = () => {
    state.filters.org = orgSel.value;
    const o = orgs.find((x) => x.slug === orgSel.value);
    state.filters.project = o && o.projects[0] ? o.projects[0].slug : 'main';
    fillProjects();
    switchView();
  };
  $('#f-project').onchange = () => { state.filters.project = $('#f-project').value; switchView(); };
}

// ---- identity --------------------------------------------------------------

function renderIdentity() {
  const box = $('#identity');
  if (session.token) {
    const who = session.identity ? (session.identity.displayName || session.identity.actorId) : 'signed in';
    box.innerHTML = `<span>Signed in as <strong data-me>${esc(who)}</strong></span>
      <button type="button" id="account-open" aria-haspopup="dialog">Account</button> <button type="button" id="signout">Sign out</button>`;
    $('#account-open').onclick = () => openAccount(true);
    $('#signout').onclick = signOut;
    return;
  }
  const a = session.actor;
  box.innerHTML = `<form id="actor-form" class="actor" aria-label="Act as">
    <label for="a-type">Act as</label>
    <select id="a-type" name="type">${['human', 'agent', 'system'].map((t) => `<option ${t === a.type ? 'selected' : ''}>${t}</option>`).join('')}</select>
    <label for="a-id" class="sr-only">Actor id</label><input id="a-id" name="id" value="${esc(a.id)}" size="10" required>
    <label for="a-name" class="sr-only">Display name</label><input id="a-name" name="name" value="${esc(a.name || '')}" placeholder="name" size="8">
    <button type="submit">Apply</button></form>`;
  $('#actor-form').onsubmit = (e) => {
    e.preventDefault();
    const f = e.target.elements;
    if (!f.id.value.trim()) return;
    setActor({ type: f.type.value, id: f.id.value.trim(), name: f.name.value.trim() });
    switchView();
    if (detail.id) detail.refresh();
  };
}

async function signOut() {
  // End the session on the server (every replica refuses the token from
  // now on); an API key is only forgotten here, or a token already ended.
  try { await gql('mutation { logout }'); } catch { /* forgotten below either way */ }
  setToken(null);
  session.identity = null;
  live.stop();
  start();
}

function startSignin(message = '') {
  live.stop();
  account.close();
  if (!$('#signin').hidden && !message) return;
  $('#app').hidden = true;
  $('#new-task').hidden = true;
  $('#where').hidden = true;
  $('#identity').innerHTML = '';
  setConn('offline');
  const box = $('#signin');
  box.hidden = false;
  box.innerHTML = signinHtml(message ? esc(message) : '');
  wireSignin(box, (identity) => { session.identity = identity; start(); });
  document.body.dataset.ready = 'signin';
  box.querySelector('#s-user').focus();
}

async function start() {
  let me;
  try {
    me = (await gql(ME)).me;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') {
      const had = Boolean(session.token);
      setToken(null);
      state.authRequired = true;
      startSignin(had ? 'Your session has ended; sign in again.' : '');
      return;
    }
    setConn('error', e.message);
    return;
  }
  session.identity = me;
  $('#signin').hidden = true;
  $('#signin').innerHTML = '';
  $('#app').hidden = false;
  $('#new-task').hidden = false;
  $('#where').hidden = false;
  renderIdentity();
  fillFilterForm();
  try { await loadOrgs(); } catch (e) { setConn('error', e.message); }
  await switchView();
  if (state.openTask) detail.open(state.openTask);
  if (state.view === 'account') {
    if (session.token) openAccount(false);
    else { state.view = null; writeUrl(); } // open mode: no account to show
  }
}

// ---- keyboard and timers -------------------------------------------------

document.addEventListener('keydown', (e) => {
  const typing = e.target.closest && e.target.closest('input, textarea, select, [contenteditable]');
  if (typing || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('dialog[open]')) return;
  if (e.key === '/') { e.preventDefault(); $('#f-q').focus(); }
  if (e.key === 'n' && !$('#app').hidden) { e.preventDefault(); create.open(); }
  if (e.key === 'Escape' && detail.id) detail.close();
});
$('#new-task').addEventListener('click', () => create.open());
$('#feed').addEventListener('click', (e) => {
  const a = e.target.closest('[data-open]');
  if (a) { e.preventDefault(); openTask(a.dataset.open, true); }
});
window.addEventListener('popstate', () => {
  const before = JSON.stringify(state.filters);
  state.filters = readUrl();
  fillFilterForm();
  const task = new URLSearchParams(location.search).get('task');
  if (JSON.stringify(state.filters) !== before) switchView();
  if (task && task !== detail.id) { state.openTask = task; detail.open(task); } else if (!task && detail.id) detail.close();
  state.view = readView();
  if (state.view && !account.isOpen && session.token) account.open();
  else if (!state.view && account.isOpen) account.close();
});
setInterval(() => Board.tick(), 1000);
setInterval(() => { if (state.loaded) figuresSoon(0); }, 10000);
setInterval(renderCompletions, 30000);

// For tests and the curious: the live client and the board.
window.ats = { live, board, detail, state, countdown };

start();
