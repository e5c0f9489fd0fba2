// Browser test of the ATS dashboard (issue: the live dashboard), driven by
// tests/it/dashboard.rs. It starts `ats-server` itself (so it can SIGKILL and
// restart it on the same database and port), opens `/` in Debian's Chromium
// through playwright-core, and checks the "Done when" list. Figures are printed
// as `FIGURE <name> <value>` lines; screenshots go to $ATS_SCREENSHOTS.
//
// Env: ATS_SERVER_BIN, ATS_DB_OPEN, ATS_DB_AUTH, ATS_BACKEND, ATS_SCREENSHOTS,
// CHROMIUM (default /usr/bin/chromium), ATS_BIG_TASKS (default 10000).

import { spawn } from 'node:child_process';
import { mkdirSync, createWriteStream, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { chromium } from 'playwright-core';

const BIN = need('ATS_SERVER_BIN');
const DB_OPEN = need('ATS_DB_OPEN');
const DB_AUTH = need('ATS_DB_AUTH');
const BACKEND = process.env.ATS_BACKEND || 'sqlite';
const SHOTS = process.env.ATS_SCREENSHOTS || path.join(os.tmpdir(), 'ats-screenshots', BACKEND);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BIG = Number(process.env.ATS_BIG_TASKS || 10000);
mkdirSync(SHOTS, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) { console.error(`${name} is not set`); process.exit(2); }
  return v;
}

const log = (...a) => console.log(`[${BACKEND}]`, ...a);
const figure = (name, value) => console.log(`FIGURE ${BACKEND} ${name} ${value}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(cond, message) { if (!cond) throw new Error(`check failed: ${message}`); }

// ---- servers -----------------------------------------------------------------

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const servers = new Set();

async function startServer({ db, port, auth = 'open', tag }) {
  const logFile = path.join(os.tmpdir(), `ats_dashboard_${process.pid}_${BACKEND}_${tag}.log`);
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(BIN, [], {
    env: { ...process.env, DATABASE_URL: db, ATS_LISTEN: `127.0.0.1:${port}`, ATS_AUTH: auth, ATS_ENV: 'test', RUST_LOG: 'warn',
      // The sign-in limits have their own tests; this one signs in and out many times.
      ATS_SIGN_IN_RATE_PER_ACCOUNT: '1000/1m', ATS_SIGN_IN_RATE_PER_IP: '1000/1m',
      // Deadlines pass within a fifth of a second (the overdue card check).
      ATS_TIMER_INTERVAL_MS: '200' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out); child.stderr.pipe(out);
  servers.add(child);
  child.on('exit', () => servers.delete(child));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ats-server exited while starting:\n${readFileSync(logFile, 'utf8')}`);
    try { const r = await fetch(`${base}/health`); if (r.ok) return { child, base, port, logFile }; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`ats-server did not become healthy:\n${readFileSync(logFile, 'utf8')}`);
}

function kill(server, signal = 'SIGKILL') {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode) { resolve(); return; }
    server.child.once('exit', () => resolve());
    server.child.kill(signal);
  });
}

function client(base, { actor, token } = {}) {
  return async (method, p, body) => {
    const headers = { 'Content-Type': 'application/json' };
    if (actor) { headers['X-Actor-Type'] = actor[0]; headers['X-Actor-ID'] = actor[1]; }
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`${base}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null; try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, text };
  };
}

async function ok(res, status, what) {
  const r = await res;
  if (r.status !== status) throw new Error(`${what}: expected ${status}, got ${r.status} ${r.text}`);
  return r.body;
}

// ---- browser -----------------------------------------------------------------

const pageErrors = [];
function watch(page, name) {
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(m.text())) pageErrors.push(`${name} console: ${m.text()}`); });
  return page;
}

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
}

const card = (status, id) => `ol.cards[data-status="${status}"] [data-task-id="${id}"]`;

async function shot(page, name, opts = {}) {
  if (await page.locator('#app:not([hidden])').count()) await page.waitForSelector('#counters .counter');
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false, ...opts });
  log(`screenshot ${file}`);
  return file;
}

// ---- the test ------------------------------------------------------------------

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  try {
    await openMode(browser);
    await authMode(browser);
  } finally {
    await browser.close();
  }
  check(pageErrors.length === 0, `no errors in the pages: ${pageErrors.join('\n')}`);
  log('all dashboard checks passed');
}

async function openMode(browser) {
  const port = await freePort();
  let server = await startServer({ db: DB_OPEN, port, tag: 'open1' });
  const planner = client(server.base, { actor: ['agent', 'planner'] });

  // Served files: content types and caching.
  const index = await fetch(`${server.base}/`);
  check(index.status === 200 && index.headers.get('content-type').startsWith('text/html'), 'GET / is the HTML page');
  check(index.headers.get('cache-control') === 'no-cache' && index.headers.get('etag'), 'no-cache and an ETag');
  const again = await fetch(`${server.base}/`, { headers: { 'If-None-Match': index.headers.get('etag') } });
  check(again.status === 304, `a matching If-None-Match gets 304 (got ${again.status})`);
  const js = await fetch(`${server.base}/playground/app.js`);
  check(js.headers.get('content-type').startsWith('text/javascript'), 'JavaScript content type');

  // Page A (light): the board.
  const ctxA = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
  const pageA = watch(await ctxA.newPage(), 'A');
  await pageA.goto(`${server.base}/`);
  await ready(pageA);
  await pageA.waitForSelector('#conn[data-state="live"]');

  // A task created through the API appears without reload, within 2 s.
  const t0 = Date.now();
  const created = (await ok(planner('POST', '/tasks', { title: 'Review the pull request', type: 'code-review', channel: 'reviews', priority: 8, payload: { pr: 42, repo: 'ats' } }), 201, 'create')).task;
  await pageA.waitForSelector(card('pending', created.id), { timeout: 2000 });
  const appear = Date.now() - t0;
  figure('card_appear_ms', appear);
  check(appear < 2000, `card appeared in ${appear} ms`);
  for (const text of ['Review the pull request', 'P8', '#reviews', 'code-review']) {
    check((await pageA.textContent(card('pending', created.id))).includes(text), `card shows ${text}`);
  }

  // A few more tasks so the board and the charts have something to show.
  for (const [title, channel, priority] of [['Triage the alert', 'ops', 9], ['Answer the customer', 'support', 5], ['Write release notes', 'docs', 3]]) {
    await ok(planner('POST', '/tasks', { title, channel, priority, type: 'task' }), 201, 'create');
  }

  // A deadline: the card counts down, then, with no reload, is marked overdue
  // when the server's task.overdue arrives over the subscription.
  await pageA.evaluate(() => { window.notReloaded = true; });
  const due = (await ok(planner('POST', '/tasks', { title: 'Approve the release', channel: 'ops', priority: 9, due_at: new Date(Date.now() + 2500).toISOString() }), 201, 'create due')).task;
  const dueCard = card('pending', due.id);
  await pageA.waitForSelector(`${dueCard} .due .left`, { timeout: 2000 });
  const due1 = (await pageA.textContent(`${dueCard} .due`)).trim();
  check(/^due in \d+s$/.test(due1), `a deadline countdown (${due1})`);
  check(await pageA.locator(`${dueCard}.overdue, ${dueCard} .overdue-badge`).count() === 0, 'not overdue before its time');
  await pageA.waitForFunction(([sel, was]) => {
    const el = document.querySelector(sel);
    return !el || el.textContent.trim() !== was;
  }, [`${dueCard} .due`, due1], { timeout: 3000 });
  const due2 = await pageA.locator(`${dueCard} .due`).count() ? (await pageA.textContent(`${dueCard} .due`)).trim() : 'passed';
  check(due2 !== due1, `the deadline countdown runs (${due1} → ${due2})`);
  await pageA.waitForSelector(`#feed [data-task-id="${due.id}"] code:text-is("task.overdue")`, { timeout: 10000 });
  await pageA.waitForSelector(`${dueCard}.overdue[data-overdue="reported"] .overdue-badge`, { timeout: 3000 });
  check((await pageA.textContent(`${dueCard} .overdue-badge`)).trim() === 'overdue', 'the card carries an "overdue" badge');
  check(await pageA.locator(`${dueCard} .due`).count() === 0, 'an overdue card shows no countdown');
  check(await pageA.evaluate(() => window.notReloaded === true), 'the card was marked without a reload');
  const dueEvents = (await ok(planner('GET', `/tasks/${due.id}/events`), 200, 'events')).events;
  check(dueEvents.filter((e) => e.type === 'task.overdue').length === 1, 'one task.overdue');
  log(`deadline: ${due1} → ${due2}, then marked overdue by task.overdue`);

  // Page B (a second context, another actor) claims it from the UI.
  const ctxB = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const pageB = watch(await ctxB.newPage(), 'B');
  await pageB.goto(`${server.base}/`);
  await ready(pageB);
  await pageB.fill('#a-id', 'bob');
  await pageB.fill('#a-name', 'Bob');
  await pageB.click('#actor-form button[type="submit"]');
  await ready(pageB);
  await pageB.click(`${card('pending', created.id)} a.card-link`);
  await pageB.waitForSelector('#detail [data-action="CLAIM"]');
  await pageB.click('#detail [data-action="CLAIM"]');
  await pageB.waitForSelector('#detail [data-detail-status="in_progress"]');

  // Page A sees it in progress with a lease countdown.
  await pageA.waitForSelector(`${card('in_progress', created.id)} .lease`, { timeout: 3000 });
  const lease1 = await pageA.textContent(`${card('in_progress', created.id)} .lease .left`);
  check(/^\d+(s|m \d\ds)$/.test(lease1.trim()), `a lease countdown (${lease1})`);
  await sleep(2100);
  const lease2 = await pageA.textContent(`${card('in_progress', created.id)} .lease .left`);
  check(lease2 !== lease1, `the countdown runs (${lease1} → ${lease2})`);
  check((await pageA.textContent(card('in_progress', created.id))).includes('Bob'), 'the card shows the assignee');

  // B completes it from the UI; both pages move it.
  await pageB.fill('#d-outputs', '{"review": "LGTM"}');
  await pageB.click('#detail form[data-form="COMPLETE"] button[type="submit"]');
  await pageB.waitForSelector('#detail [data-detail-status="completed"]');
  await pageA.waitForSelector(card('completed', created.id), { state: 'attached', timeout: 3000 });
  await pageB.waitForSelector(card('completed', created.id), { state: 'attached', timeout: 3000 });
  check(await pageA.locator(card('in_progress', created.id)).count() === 0, 'no longer in progress on A');
  check((await pageB.textContent('#detail')).includes('LGTM'), 'the detail shows the outputs');

  // A refused action shows the server's sentence: B tries to claim a task A holds.
  const held = (await ok(planner('POST', '/tasks', { title: 'Held by the planner', channel: 'ops' }), 201, 'create')).task;
  await pageB.click('#detail [data-close]');
  await pageB.goto(`${server.base}/?task=${held.id}`);
  await pageB.waitForSelector('#detail [data-action="CLAIM"]');
  await ok(planner('POST', `/tasks/${held.id}/claim`, { lease_duration: 600000 }), 200, 'claim');
  await pageB.click('#detail [data-action="CLAIM"]').catch(() => {});
  await pageB.waitForFunction(() => {
    const e = document.querySelector('#action-error');
    return (e && !e.hidden && e.textContent.includes('claimed by')) || !document.querySelector('#detail [data-action="CLAIM"]');
  });
  log('refused action:', (await pageB.textContent('#detail')).includes('claimed by') ? 'error shown' : 'button already gone (live update won)');

  // Messages from the UI.
  await pageB.goto(`${server.base}/?task=${created.id}`);
  await pageB.waitForSelector('#d-message');
  await pageB.fill('#d-message', 'Merged, thanks!');
  await pageB.click('#detail form[data-form="MESSAGE"] button[type="submit"]');
  await pageB.waitForFunction(() => document.querySelector('#detail .thread').textContent.includes('Merged, thanks!'));

  // Screenshots: board and detail, light and dark, and phone width.
  await shot(pageA, 'board-light');
  await pageA.click(`${card('completed', created.id)} a.card-link`);
  await pageA.waitForSelector('#detail [data-detail-status="completed"]');
  await shot(pageA, 'detail-light');
  const ctxDark = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'dark' });
  const dark = watch(await ctxDark.newPage(), 'dark');
  await dark.goto(`${server.base}/`);
  await ready(dark);
  await shot(dark, 'board-dark');
  await dark.goto(`${server.base}/?task=${created.id}`);
  await dark.waitForSelector('#detail [data-detail-status="completed"]');
  await ready(dark);
  await shot(dark, 'detail-dark');
  const ctxPhone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'light', isMobile: true, hasTouch: true });
  const phone = watch(await ctxPhone.newPage(), 'phone');
  await phone.goto(`${server.base}/`);
  await ready(phone);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no sideways scrolling at phone width (${overflow}px too wide)`);
  await shot(phone, 'board-phone', { fullPage: true });
  await ctxPhone.close();
  await ctxDark.close();

  // The create form shows the API's error next to the field and writes nothing.
  await pageA.click('#detail [data-close]');
  const before = (await ok(planner('GET', '/tasks?limit=1'), 200, 'count')).count;
  const bad = [
    { fill: { '#c-title': '' }, field: 'title', says: 'title' },
    { fill: { '#c-title': 'Too urgent', '#c-priority': '11' }, field: 'priority', says: 'priority must be between 1 and 10' },
    { fill: { '#c-title': 'Array payload', '#c-payload': '[1, 2, 3]' }, field: 'payload', says: 'payload must be a JSON object' },
  ];
  for (const c of bad) {
    await pageA.click('#new-task');
    await pageA.waitForSelector('#create[open] #c-title');
    for (const sel of ['#c-title', '#c-priority', '#c-payload']) await pageA.fill(sel, '');
    for (const [sel, v] of Object.entries(c.fill)) await pageA.fill(sel, v);
    await pageA.click('#create button[type="submit"]');
    const slot = `#create [data-error-for="${c.field}"]`;
    await pageA.waitForSelector(`${slot}:not([hidden])`, { timeout: 3000 });
    const text = await pageA.textContent(slot);
    check(text.includes(c.says), `the ${c.field} error is shown next to the field: "${text}"`);
    check(await pageA.getAttribute(`#c-${c.field}`, 'aria-invalid') === 'true', `#c-${c.field} is marked invalid`);
    log(`create form, bad ${c.field}: "${text}"`);
    await pageA.click('#create [data-cancel]');
  }
  const after = (await ok(planner('GET', '/tasks?limit=1'), 200, 'count')).count;
  check(after === before, `bad input wrote nothing (${before} → ${after} tasks)`);
  // And a good one goes through.
  await pageA.click('#new-task');
  await pageA.fill('#c-title', 'Created from the form');
  await pageA.fill('#c-priority', '7');
  await pageA.fill('#c-channel', 'ops');
  await pageA.fill('#c-payload', '{"from": "form"}');
  await pageA.click('#create button[type="submit"]');
  await pageA.waitForSelector('#detail h2:has-text("Created from the form")');

  // Socket cut: SIGKILL the server while the page is connected. The three
  // events are written through a second server on the same database but
  // another port, so they surely land while the page is cut off; then the
  // server comes back on the page's port and the page resumes with `after`.
  const seenBefore = await pageA.$$eval('#feed [data-event-id]', (els) => els.map((e) => e.dataset.eventId));
  await kill(server);
  await pageA.waitForSelector('#conn:not([data-state="live"])', { timeout: 10000 });
  const side = await startServer({ db: DB_OPEN, port: await freePort(), tag: 'side' });
  const sideWriter = client(side.base, { actor: ['agent', 'planner'] });
  const three = [];
  for (const title of ['After the cut 1', 'After the cut 2', 'After the cut 3']) {
    three.push((await ok(sideWriter('POST', '/tasks', { title, channel: 'ops', priority: 6 }), 201, 'create')).task);
  }
  const stateAtWrite = await pageA.getAttribute('#conn', 'data-state');
  check(stateAtWrite !== 'live', `the page was cut off while the events were written (${stateAtWrite})`);
  await kill(side, 'SIGTERM');
  server = await startServer({ db: DB_OPEN, port, tag: 'open2' });
  const writer = client(server.base, { actor: ['agent', 'planner'] });
  await pageA.waitForSelector('#conn[data-state="live"]', { timeout: 15000 });
  const eventIds = [];
  for (const t of three) {
    const evs = (await ok(writer('GET', `/tasks/${t.id}/events`), 200, 'events')).events;
    eventIds.push(evs[0].id);
    await pageA.waitForSelector(card('pending', t.id), { timeout: 5000 });
  }
  for (const id of eventIds) {
    await pageA.waitForSelector(`#feed [data-event-id="${id}"]`, { timeout: 5000 });
  }
  await sleep(500);
  const feedIds = await pageA.$$eval('#feed [data-event-id]', (els) => els.map((e) => e.dataset.eventId));
  for (const id of eventIds) check(feedIds.filter((x) => x === String(id)).length === 1, `event ${id} shows exactly once`);
  check(new Set(feedIds).size === feedIds.length, 'no event shows twice in the feed');
  for (const t of three) check(await pageA.locator(`#board [data-task-id="${t.id}"]`).count() === 1, `task ${t.id} has one card`);
  check(seenBefore.every((id) => feedIds.includes(id)), 'events seen before the cut are still listed once');
  log(`after the cut: events ${eventIds.join(', ')} each shown once`);

  // 10 000 tasks: the page is interactive quickly (measured, printed).
  await ok(writer('POST', '/orgs/default/projects', { slug: 'big', name: 'Big project' }), 201, 'project');
  const tb = Date.now();
  const channels = ['ops', 'support', 'reviews', 'docs', 'billing'];
  for (let start = 0; start < BIG; start += 1000) {
    const tasks = [];
    for (let i = start; i < Math.min(BIG, start + 1000); i += 1) {
      tasks.push({ title: `Bulk task ${i}`, channel: channels[i % channels.length], priority: 1 + (i % 10), type: i % 3 ? 'task' : 'approval' });
    }
    await ok(writer('POST', '/orgs/default/projects/big/tasks/bulk', { tasks }), 201, 'bulk');
  }
  figure('big_insert_ms', Date.now() - tb);
  const ctxBig = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const big = watch(await ctxBig.newPage(), 'big');
  await big.goto(`${server.base}/?project=big`);
  await big.waitForSelector('ol.cards[data-status="pending"] [data-task-id]', { timeout: 15000 });
  const cardsMs = await big.evaluate(() => performance.now());
  await ready(big);
  const interactiveMs = await big.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0))));
  const total = await big.textContent('[data-count="pending"]');
  check(total.includes(String(BIG)), `the pending column counts ${BIG} tasks (${total})`);
  // Responsive: a filter narrows the board.
  const tf = Date.now();
  const needle = `Bulk task ${BIG - 1}`;
  await big.fill('#f-q', needle);
  await big.waitForFunction(() => document.querySelectorAll('ol.cards[data-status="pending"] [data-task-id]').length === 1);
  figure('big_filter_ms', Date.now() - tf);
  check(new URL(big.url()).searchParams.get('q') === needle, `the filter is in the URL (${big.url()})`);
  figure('big_cards_rendered_ms', Math.round(cardsMs));
  figure('big_interactive_ms', Math.round(interactiveMs));
  await ctxBig.close();

  await ctxA.close();
  await ctxB.close();
  await kill(server, 'SIGTERM');
}

async function authMode(browser) {
  const port = await freePort();
  const server = await startServer({ db: DB_AUTH, port, auth: 'required', tag: 'auth' });
  const anon = client(server.base);
  const password = 'a long password';
  const alice = (await ok(anon('POST', '/auth/register', { actor_type: 'human', actor_id: 'alice', display_name: 'Alice', email: 'alice@example.com', password }), 201, 'register alice'));
  const bob = await ok(anon('POST', '/auth/register', { actor_type: 'human', actor_id: 'bob', display_name: 'Bob Viewer', email: 'bob@example.com', password }), 201, 'register bob');
  const asAlice = client(server.base, { token: alice.token });
  await ok(asAlice('POST', '/orgs', { slug: 'acme', name: 'Acme' }), 201, 'org');
  const projects = (await ok(asAlice('GET', '/orgs/acme/projects'), 200, 'projects')).projects;
  if (!projects.some((p) => p.slug === 'web')) await ok(asAlice('POST', '/orgs/acme/projects', { slug: 'web', name: 'Website' }), 201, 'project');
  await ok(asAlice('POST', '/orgs/acme/members', { actor_type: 'human', actor_id: 'bob', role: 'viewer' }), 201, 'member');
  const task = (await ok(asAlice('POST', '/orgs/acme/projects/web/tasks', { title: 'Fix the login page', channel: 'web', priority: 7 }), 201, 'task')).task;

  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 }, colorScheme: 'light' });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = watch(await ctx.newPage(), 'auth');
  await page.goto(`${server.base}/?org=acme&project=web`);
  await page.waitForSelector('#signin-form');
  check(await page.locator('#board [data-task-id]').count() === 0, 'no board before sign-in');
  await page.fill('#s-user', 'bob@example.com');
  await page.fill('#s-password', 'not the password');
  await page.click('#signin-form button[type="submit"]');
  await page.waitForSelector('#signin-error:not([hidden])');
  const message = await page.textContent('#signin-error');
  check(/sign-in failed/i.test(message) && message.length > 20, `a clear message for a wrong password: "${message}"`);
  log(`wrong password: "${message}"`);
  await shot(page, 'signin');
  await page.fill('#s-password', password);
  await page.click('#signin-form button[type="submit"]');
  await ready(page);
  await page.waitForSelector('#conn[data-state="live"]');
  await page.waitForSelector(card('pending', task.id));
  check((await page.textContent('[data-me]')).includes('Bob Viewer'), 'signed in as Bob');
  await page.click(`${card('pending', task.id)} a.card-link`);
  await page.waitForSelector('#detail [data-no-actions]');
  check(await page.locator('#detail [data-action="CLAIM"]').count() === 0, 'a viewer sees no claim button');
  check(await page.locator('#detail [data-action]').count() === 0, 'a viewer sees no action at all');
  // Live in required mode: the token went in connection_init.
  await ok(asAlice('POST', `/tasks/${task.id}/claim`, {}), 200, 'claim');
  await page.waitForSelector(card('in_progress', task.id), { timeout: 3000 });
  await accountPage(page, server, { password, alice: asAlice });
  await accountByKey(browser, server, bob.api_key);
  const token = await page.evaluate(() => localStorage.getItem('ats.token'));
  check(Boolean(token), 'the signed-in page holds a token');
  await page.click('#signout');
  await page.waitForSelector('#signin-form');
  // Signing out ended the session on the server, not only in the page.
  const after = await client(server.base, { token })('GET', '/auth/me');
  check(after.status === 401, `the signed-out token is refused (${after.status})`);
  await ctx.close();
  await kill(server, 'SIGTERM');
}

/** A GraphQL request from the page with `key` as its bearer: `{status, body}`. */
function gqlAs(page, key, query) {
  return page.evaluate(async ([k, q]) => {
    const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${k}` }, body: JSON.stringify({ query: q }) });
    return { status: r.status, body: await r.json() };
  }, [key, query]);
}

const errorCode = (r) => r.body && r.body.errors && r.body.errors[0].extensions && r.body.errors[0].extensions.code;

/** The account page of Bob, signed in with his password: a read-only key made, used and revoked; the password changed. */
async function accountPage(page, server, { password, alice }) {
  const oldToken = await page.evaluate(() => localStorage.getItem('ats.token'));
  await page.click('#account-open');
  await page.waitForSelector('#account[open] [data-who-actor]');
  check(new URL(page.url()).searchParams.get('view') === 'account', `the account page is in the URL (${page.url()})`);
  const who = await page.textContent('#account [data-who]');
  for (const text of ['human:bob', 'Bob Viewer', 'bob@example.com', 'a password']) check(who.includes(text), `the account shows ${text}: "${who}"`);
  check(await page.isVisible('#password-form'), 'a password session is offered the password change');

  // A read-only key limited to acme/web: its secret is shown once.
  const acmeWeb = '#account input[name="projects"][value="acme/web"]';
  await page.waitForSelector(acmeWeb);
  const month = new Date(Date.now() + 30 * 86400000);
  const local = new Date(month.getTime() - month.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  await page.fill('#k-name', 'ci reader');
  await page.fill('#k-expires', local);
  await page.check('#k-readonly');
  await page.check(acmeWeb);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#account [data-secret]:not([hidden])');
  const secret = await page.inputValue('#k-secret');
  check(/^ats_[0-9a-f]{64}$/.test(secret), `the new key is shown (${secret.slice(0, 8)}…)`);
  check((await page.textContent('#account [data-secret]')).includes('shown once'), 'the key is marked as shown once');
  const row = page.locator('#account [data-keys] li', { hasText: 'ci reader' });
  await row.waitFor();
  const keyId = await row.getAttribute('data-key-id');
  const rowText = await row.textContent();
  check(await row.locator('[data-scope="read-only"]').count() === 1 && rowText.includes('acme/web'), `listed as read-only, limited to acme/web: "${rowText.replace(/\s+/g, ' ')}"`);
  check(!rowText.includes(secret) && rowText.includes(secret.slice(0, 12)), 'the list shows the prefix, not the key');
  check(rowText.includes('expires') && !rowText.includes('never expires'), 'the key expires');
  await shot(page, 'account-light');
  await page.click('#k-copy');
  await page.waitForSelector('#k-copied:not([hidden])');
  const copied = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
  check(copied === secret, `Copy puts the key on the clipboard (${await page.textContent('#k-copied')})`);
  await page.click('#k-done');
  const lingers = await page.evaluate((k) => document.documentElement.innerHTML.includes(k) || [...document.querySelectorAll('input')].some((i) => i.value === k), secret);
  check(!lingers, 'the key is gone from the page once dismissed');

  // The key reads, and may not write.
  const read = await gqlAs(page, secret, '{ tasks(filter: {org: "acme", project: "web"}) { totalCount } }');
  check(read.status === 200 && !read.body.errors && read.body.data.tasks.totalCount >= 1, `the read-only key reads: ${JSON.stringify(read.body)}`);
  const write = await gqlAs(page, secret, 'mutation { createTask(input: {org: "acme", project: "web", title: "Written with a read-only key"}) { task { id } } }');
  check(errorCode(write) === 'FORBIDDEN', `the read-only key may not create a task: ${JSON.stringify(write.body)}`);
  // Bob is only a viewer of acme, so that refusal is his role's too; his own profile is his to change, but not with this key.
  const profile = await gqlAs(page, secret, 'mutation { updateMe(input: {displayName: "Bob by key"}) { displayName } }');
  check(errorCode(profile) === 'FORBIDDEN' && /read-only/.test(profile.body.errors[0].message), `the read-only key may not change the profile: ${JSON.stringify(profile.body)}`);
  log(`read-only key refused: "${write.body.errors[0].message}"; "${profile.body.errors[0].message}"`);

  // Revoke asks first; Keep keeps it.
  await row.locator('[data-revoke]').click();
  await page.click(`#account [data-key-id="${keyId}"] [data-keep]`);
  check(await page.locator(`#account [data-key-id="${keyId}"] [data-revoke]`).count() === 1, 'Keep keeps the key');
  check((await gqlAs(page, secret, '{ me { actorId } }')).status === 200, 'a kept key still works');
  await page.click(`#account [data-key-id="${keyId}"] [data-revoke]`);
  await page.click(`#account [data-key-id="${keyId}"] [data-confirm-revoke]`);
  await page.waitForSelector(`#account [data-key-id="${keyId}"]`, { state: 'detached' });
  const revoked = await gqlAs(page, secret, '{ me { actorId } }');
  check(revoked.status === 401 && errorCode(revoked) === 'UNAUTHENTICATED', `the revoked key is refused: ${revoked.status} ${JSON.stringify(revoked.body)}`);

  // The password: a wrong current one is refused with the server's sentence, then the right one.
  const newPassword = 'a new and longer password';
  for (const [sel, v] of [['#p-current', 'not the password'], ['#p-new', newPassword], ['#p-confirm', `${newPassword}!`]]) await page.fill(sel, v);
  await page.click('#password-form button[type="submit"]');
  await page.waitForSelector('#p-error:not([hidden])');
  check((await page.textContent('#p-error')).includes('differ'), 'a mismatched confirmation is caught');
  await page.fill('#p-confirm', newPassword);
  await page.click('#password-form button[type="submit"]');
  await page.waitForFunction(() => document.querySelector('#p-error').textContent.includes('current password is wrong'));
  check(await page.getAttribute('#p-error', 'role') === 'alert', 'the error is an alert');
  check(await page.getAttribute('#p-current', 'aria-invalid') === 'true', 'the current password is marked invalid');
  log(`wrong current password: "${await page.textContent('#p-error')}"`);
  check(await page.evaluate(() => localStorage.getItem('ats.token')) === oldToken, 'a refused change keeps the token');
  for (const [sel, v] of [['#p-current', password], ['#p-new', newPassword], ['#p-confirm', newPassword]]) await page.fill(sel, v);
  await page.click('#password-form button[type="submit"]');
  await page.waitForSelector('#p-done:not([hidden])');
  check(await page.locator('#p-error:not([hidden])').count() === 0, 'no error after the change');
  const newToken = await page.evaluate(() => localStorage.getItem('ats.token'));
  check(newToken && newToken !== oldToken, 'the page holds the new token');
  const old = await client(server.base, { token: oldToken })('GET', '/auth/me');
  check(old.status === 401, `the old token is refused (${old.status})`);

  // Escape closes the page; the dashboard goes on, live, with the new token.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#account:not([open])', { state: 'attached' });
  check(!new URL(page.url()).searchParams.has('view'), `the account page left the URL (${page.url()})`);
  check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'account-open', 'focus returns to the Account button');
  await page.waitForSelector('#conn[data-state="live"]');
  const next = (await ok(alice('POST', '/orgs/acme/projects/web/tasks', { title: 'After the password change', channel: 'web' }), 201, 'task')).task;
  await page.waitForSelector(card('pending', next.id), { timeout: 3000 });
  check(await page.locator('#signin-form').count() === 0, 'still signed in');
  const anon = client(server.base);
  await ok(anon('POST', '/auth/login', { email: 'bob@example.com', password: newPassword }), 200, 'login with the new password');
  const stale = await anon('POST', '/auth/login', { email: 'bob@example.com', password });
  check(stale.status === 401, `the old password is refused (${stale.status})`);
  // By URL: the account page opens on load.
  await page.goto(`${server.base}/?org=acme&project=web&view=account`);
  await page.waitForSelector('#account[open] [data-who-actor]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#account:not([open])', { state: 'attached' });
}

/** Signed in with an API key, the account page (dark) says a password change needs a password sign-in; revoking that key signs out. */
async function accountByKey(browser, server, key) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 }, colorScheme: 'dark' });
  await ctx.addInitScript((k) => localStorage.setItem('ats.token', k), key);
  const page = watch(await ctx.newPage(), 'account-key');
  await page.goto(`${server.base}/?org=acme&project=web&view=account`);
  await page.waitForSelector('#account[open] [data-who-actor]');
  await ready(page);
  check((await page.textContent('#account [data-who-via]')).includes('an API key'), 'signed in with an API key');
  check(await page.isVisible('#account [data-pw-key]') && !(await page.isVisible('#password-form')), 'an API-key session is told the password change needs a password sign-in');
  check(await page.locator('#account [data-keys] li', { hasText: '(this page)' }).count() === 1, "the page's own key is marked");
  await shot(page, 'account-dark');
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => { const d = document.querySelector('#account'); return d.scrollWidth - d.clientWidth; });
  check(overflow <= 1, `the account page fits a phone (${overflow}px too wide)`);
  await shot(page, 'account-phone');
  // Revoking the page's own key signs the page out.
  await page.setViewportSize({ width: 1200, height: 900 });
  const own = page.locator('#account [data-keys] li', { hasText: '(this page)' });
  await own.locator('[data-revoke]').click();
  check((await own.textContent()).includes('you will be signed out'), 'revoking the own key warns of the sign-out');
  await own.locator('[data-confirm-revoke]').click();
  await page.waitForSelector('#signin-form');
  // The server closes the page's socket as the key goes, which may show the
  // sign-in form a moment before the revoke's answer makes the page forget the key.
  const forgotten = await page.waitForFunction(() => localStorage.getItem('ats.token') === null, null, { timeout: 5000 }).then(() => true, () => false);
  check(forgotten, 'the revoked key is forgotten');
  await ctx.close();
}

main().then(() => process.exit(0), async (e) => {
  console.error(`[${BACKEND}] FAILED: ${e.stack || e}`);
  for (const s of servers) s.kill('SIGKILL');
  process.exit(1);
});
