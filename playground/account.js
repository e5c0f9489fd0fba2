// The account dialog of a signed-in user: who the caller is, a password
// change (for password sessions; the new login token replaces the old one,
// which the server refuses from then on) and the caller's API keys — listed,
// created (read-only or limited to projects; the secret is shown once) and revoked.

import { gql, session, setToken, signedInWithKey, ApiError } from './api.js';
import { esc } from './board.js';
import { time } from './detail.js';

const KEY_FIELDS = 'id name prefix createdAt lastUsedAt expiresAt readOnly projects';
const LOAD = `{ me { actorType actorId displayName email createdAt }
  apiKeys { ${KEY_FIELDS} } organizations { slug projects { slug } } }`;
const KEYS = `{ apiKeys { ${KEY_FIELDS} } }`;
const CREATE_KEY = `mutation($name: String, $expiresAt: DateTime, $readOnly: Boolean, $projects: [String!]) {
  createApiKey(name: $name, expiresAt: $expiresAt, readOnly: $readOnly, projects: $projects) { id key } }`;
const DELETE_KEY = 'mutation($id: ID!) { deleteApiKey(id: $id) }';
const CHANGE_PASSWORD = `mutation($current: String!, $next: String!) {
  changePassword(currentPassword: $current, newPassword: $next) { token } }`;

const message = (e) => (e instanceof ApiError ? e.message : String(e));

/** Whether the page's own API key is this one (its shown prefix starts the secret). */
const isSessionKey = (k) => signedInWithKey() && session.token.startsWith(k.prefix);

function scopeBadges(k) {
  const badges = [];
  if (k.readOnly) badges.push('<span class="badge" data-scope="read-only">read-only</span>');
  if (k.projects) badges.push(...k.projects.map((p) => `<span class="badge" data-scope="project">${esc(p)}</span>`));
  if (!badges.length) badges.push('<span class="badge" data-scope="full">full access</span>');
  return badges.join(' ');
}

export class Account {
  /**
   * @param {HTMLDialogElement} dialog filled with `accountDialogHtml()`
   * @param {object} opts
   * @param {() => void} opts.onClose after the dialog closed
   * @param {() => void} opts.onEnded the page's own key was revoked
   * @param {() => void} opts.pauseLive before the password changes (the server closes sockets on the old token)
   * @param {() => void} opts.resumeLive after, with whichever token the page now holds
   */
  constructor(dialog, { onClose, onEnded, pauseLive, resumeLive }) {
    this.dialog = dialog;
    this.opts = { onClose, onEnded, pauseLive, resumeLive };
    this.keys = [];
    this.$ = (sel) => dialog.querySelector(sel);
    dialog.querySelector('[data-close]').addEventListener('click', () => this.close());
    dialog.addEventListener('close', () => this.closed());
    this.$('#password-form').addEventListener('submit', (e) => this.changePassword(e));
    this.$('#key-form').addEventListener('submit', (e) => this.createKey(e));
    this.$('#k-copy').addEventListener('click', () => this.copy());
    this.$('#k-done').addEventListener('click', () => this.hideSecret());
    this.$('[data-keys]').addEventListener('click', (e) => this.keyClick(e));
  }

  get isOpen() { return this.dialog.open; }

  async open() {
    if (!this.dialog.open) this.dialog.showModal();
    const byKey = signedInWithKey();
    this.$('[data-pw-key]').hidden = !byKey;
    this.$('#password-form').hidden = byKey;
    this.show('#account-error', '');
    this.$('#account-h').focus();
    let data;
    try {
      data = await gql(LOAD);
    } catch (e) {
      this.show('#account-error', `The account could not be loaded: ${message(e)}`);
      return;
    }
    this.renderKeys(data.apiKeys);
    this.renderWho(data.me);
    this.renderProjects(data.organizations);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  closed() {
    this.hideSecret();
    this.$('#password-form').reset();
    for (const id of ['#p-error', '#p-done', '#k-error']) this.show(id, '');
    this.opts.onClose();
  }

  show(sel, text) {
    const el = this.$(sel);
    el.textContent = text;
    el.hidden = !text;
  }

  renderWho(me) {
    this.$('#password-form').elements.username.value = me.email || me.actorId;
    const key = this.keys.find(isSessionKey);
    const how = signedInWithKey() ? 'an API key' : 'a password (login token)';
    this.$('[data-who]').innerHTML = `
      <dt>Actor</dt><dd data-who-actor>${esc(String(me.actorType).toLowerCase())}:${esc(me.actorId)}</dd>
      <dt>Display name</dt><dd data-who-name>${esc(me.displayName)}</dd>
      <dt>Email</dt><dd data-who-email>${me.email ? esc(me.email) : '<span class="muted">none</span>'}</dd>
      <dt>Registered</dt><dd>${time(me.createdAt)}</dd>
      <dt>Signed in with</dt><dd data-who-via>${how}${key ? ` (${esc(key.name)})` : ''}</dd>`;
  }

  renderProjects(orgs) {
    const names = orgs.flatMap((o) => o.projects.map((p) => `${o.slug}/${p.slug}`));
    this.$('[data-projects]').innerHTML = names.length
      ? names.map((n, i) => `<label><input type="checkbox" name="projects" value="${esc(n)}" id="k-project-${i}"> ${esc(n)}</label>`).join('')
      : '<p class="muted">You see no projects.</p>';
  }

  renderKeys(keys) {
    this.keys = keys;
    const list = this.$('[data-keys]');
    if (!keys.length) { list.innerHTML = '<li class="muted">No API keys.</li>'; return; }
    list.innerHTML = keys.map((k) => `
      <li data-key-id="${esc(k.id)}">
        <div class="key-head">
          <strong>${esc(k.name)}</strong> <code title="the first characters of the key">${esc(k.prefix)}…</code>
          ${scopeBadges(k)}${isSessionKey(k) ? ' <span class="muted">(this page)</span>' : ''}
          <span class="key-actions"><button type="button" class="danger" data-revoke="${esc(k.id)}" aria-label="Revoke the key ${esc(k.name)}">Revoke</button></span>
        </div>
        <div class="key-meta">created ${time(k.createdAt)} · ${k.expiresAt ? `expires ${time(k.expiresAt)}` : 'never expires'} · ${k.lastUsedAt ? `last used ${time(k.lastUsedAt)}` : 'never used'}</div>
      </li>`).join('');
  }

  async reloadKeys() {
    try {
      this.renderKeys((await gql(KEYS)).apiKeys);
    } catch (e) {
      this.show('#k-error', message(e));
    }
  }

  /** Revoke asks first, in the key's row; Keep puts the button back. */
  async keyClick(e) {
    const b = e.target.closest('button');
    if (!b) return;
    const li = b.closest('[data-key-id]');
    const k = this.keys.find((x) => String(x.id) === li.dataset.keyId);
    const actions = li.querySelector('.key-actions');
    if (b.dataset.revoke) {
      const own = isSessionKey(k) ? ' This page signed in with it: you will be signed out.' : '';
      actions.innerHTML = `<span role="alert">Revoke “${esc(k.name)}”? Anything using it is refused at once.${own}</span>
        <button type="button" class="danger" data-confirm-revoke>Revoke</button> <button type="button" data-keep>Keep</button>`;
      actions.querySelector('[data-keep]').focus();
    } else if ('keep' in b.dataset) {
      this.renderKeys(this.keys);
      this.$(`[data-key-id="${CSS.escape(li.dataset.keyId)}"] [data-revoke]`).focus();
    } else if ('confirmRevoke' in b.dataset) {
      const own = isSessionKey(k);
      b.disabled = true;
      try {
        await gql(DELETE_KEY, { id: k.id });
      } catch (err) {
        this.show('#k-error', `The key was not revoked: ${message(err)}`);
        this.renderKeys(this.keys);
        return;
      }
      if (own) { this.close(); this.opts.onEnded(); return; }
      this.show('#k-error', '');
      await this.reloadKeys();
      this.$('#k-name').focus();
    }
  }

  async createKey(e) {
    e.preventDefault();
    this.show('#k-error', '');
    const f = e.target.elements;
    const vars = { name: f.name.value.trim() || null, readOnly: f.readOnly.checked };
    if (f.expires.value) {
      const t = new Date(f.expires.value);
      if (Number.isNaN(t.getTime())) { this.show('#k-error', 'The expiry is not a valid date and time.'); return; }
      vars.expiresAt = t.toISOString();
    }
    const projects = [...e.target.querySelectorAll('input[name="projects"]:checked')].map((c) => c.value);
    if (projects.length) vars.projects = projects;
    const button = e.target.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const created = (await gql(CREATE_KEY, vars)).createApiKey;
      e.target.reset();
      this.showSecret(created.key);
      await this.reloadKeys();
    } catch (err) {
      this.show('#k-error', `The key was not created: ${message(err)}`);
    } finally {
      button.disabled = false;
    }
  }

  showSecret(key) {
    this.$('#k-secret').value = key;
    this.show('#k-copied', '');
    this.$('[data-secret]').hidden = false;
    const input = this.$('#k-secret');
    input.focus();
    input.select();
    input.scrollLeft = 0; // select() scrolls to the end; show the `ats_` start
  }

  /** Forgets the secret: it is not shown again. */
  hideSecret() {
    this.$('#k-secret').value = '';
    this.$('[data-secret]').hidden = true;
  }

  async copy() {
    const input = this.$('#k-secret');
    try {
      await navigator.clipboard.writeText(input.value);
      this.show('#k-copied', 'Copied to the clipboard.');
    } catch {
      input.focus();
      input.select();
      this.show('#k-copied', 'The clipboard is not available here: the key is selected, copy it with Ctrl+C (⌘C).');
    }
  }

  async changePassword(e) {
    e.preventDefault();
    this.show('#p-error', '');
    this.show('#p-done', '');
    const f = e.target.elements;
    f.current.removeAttribute('aria-invalid');
    f.next.removeAttribute('aria-invalid');
    if (!f.current.value || !f.next.value) { this.show('#p-error', 'Enter your current password and a new one.'); return; }
    if (f.next.value !== f.confirm.value) {
      this.show('#p-error', 'The new password and its confirmation differ.');
      f.confirm.setAttribute('aria-invalid', 'true');
      f.confirm.focus();
      return;
    }
    f.confirm.removeAttribute('aria-invalid');
    const button = e.target.querySelector('button[type="submit"]');
    button.disabled = true;
    this.opts.pauseLive();
    try {
      const data = await gql(CHANGE_PASSWORD, { current: f.current.value, next: f.next.value });
      setToken(data.changePassword.token);
      e.target.reset();
      this.show('#p-done', 'Password changed. Sessions signed in with the old password have ended; this page goes on with a new one.');
    } catch (err) {
      this.show('#p-error', `The password was not changed: ${message(err)}`);
      const field = /current/i.test(message(err)) ? f.current : f.next;
      field.setAttribute('aria-invalid', 'true');
      field.focus();
    } finally {
      button.disabled = false;
      this.opts.resumeLive();
    }
  }
}

export function accountDialogHtml() {
  return `
  <header class="dialog-head">
    <h2 id="account-h" tabindex="-1">Your account</h2>
    <button type="button" class="icon" data-close aria-label="Close the account page">✕</button>
  </header>
  <p id="account-error" class="error" role="alert" hidden></p>
  <section aria-labelledby="acct-who-h">
    <h3 id="acct-who-h">Identity</h3>
    <dl class="facts" data-who></dl>
  </section>
  <section aria-labelledby="acct-pw-h">
    <h3 id="acct-pw-h">Password</h3>
    <p data-pw-key hidden>Changing the password needs a password sign-in: this page signed in with an API key. Sign out, then sign in with your email or actor id and password.</p>
    <form id="password-form" novalidate>
      <input type="text" name="username" autocomplete="username" hidden>
      <div class="field"><label for="p-current">Current password</label>
        <input id="p-current" name="current" type="password" autocomplete="current-password" required></div>
      <div class="row2">
        <div class="field"><label for="p-new">New password</label>
          <input id="p-new" name="next" type="password" autocomplete="new-password" required minlength="8" aria-describedby="p-new-hint">
          <small id="p-new-hint" class="muted">at least 8 characters</small></div>
        <div class="field"><label for="p-confirm">New password again</label>
          <input id="p-confirm" name="confirm" type="password" autocomplete="new-password" required></div>
      </div>
      <p id="p-error" class="field-error" role="alert" hidden></p>
      <p id="p-done" class="ok" role="status" hidden></p>
      <div class="buttons"><button type="submit" class="primary">Change password</button></div>
    </form>
  </section>
  <section aria-labelledby="acct-keys-h">
    <h3 id="acct-keys-h">API keys</h3>
    <p class="muted">Programs and agents send a key as <code>Authorization: Bearer ats_…</code>; it acts as you, within its scope.</p>
    <ul class="keys" data-keys></ul>
    <div class="secret" data-secret hidden>
      <label for="k-secret"><strong>Your new key — shown once.</strong> Copy it now: ATS keeps only its hash and cannot show it again.</label>
      <div class="secret-row">
        <input id="k-secret" readonly spellcheck="false" autocomplete="off">
        <button type="button" id="k-copy">Copy</button>
        <button type="button" id="k-done">Done</button>
      </div>
      <p id="k-copied" class="muted" role="status" hidden></p>
    </div>
    <p id="k-error" class="field-error" role="alert" hidden></p>
    <form id="key-form" novalidate>
      <h4>New key</h4>
      <div class="row2">
        <div class="field"><label for="k-name">Name</label>
          <input id="k-name" name="name" maxlength="200" placeholder="e.g. ci runner" autocomplete="off"></div>
        <div class="field"><label for="k-expires">Expires <span class="muted">(optional)</span></label>
          <input id="k-expires" name="expires" type="datetime-local"></div>
      </div>
      <label class="check"><input type="checkbox" id="k-readonly" name="readOnly" aria-describedby="k-readonly-hint"> Read-only</label>
      <small id="k-readonly-hint" class="muted">reads what you can read and changes nothing</small>
      <fieldset class="projects" aria-describedby="k-projects-hint">
        <legend>Limit to projects <span class="muted">(optional)</span></legend>
        <div data-projects></div>
      </fieldset>
      <small id="k-projects-hint" class="muted">none ticked: every project you can reach; ticked: only those (and no org management)</small>
      <div class="buttons"><button type="submit">Create key</button></div>
    </form>
  </section>`;
}
