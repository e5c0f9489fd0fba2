// The task detail panel: payload and outputs, thread, timeline, subtasks,
// dependencies and handoffs, and the actions the server says the viewer may
// take now (`Task.viewerActions`); a refused action shows the server's sentence.

import { gql, ApiError } from './api.js';
import { esc, statusOf, actorLabel, countdown, dueMark, runMark, LABELS } from './board.js';

const DETAIL = `query($id: ID!) { task(id: $id) {
  id title description type channel priority status payload outputs reason org project
  attempts maxAttempts leaseExpires runAt dueAt overdue createdAt updatedAt claimedAt completedAt
  source { type id name } assignee { type id name }
  parent { id title status }
  subtasks { id title status } dependsOn { id title status } blockedBy { id title status } blocks { id title status }
  messages(first: 1000) { id actor { type id name } parts createdAt }
  events { id type actor { type id name } createdAt }
  handoffs { id actor { type id name } summary nextSteps createdAt }
  viewerActions
} }`;

const MUTATIONS = {
  CLAIM: 'mutation($id: ID!) { claimTask(id: $id) { task { id } } }',
  COMPLETE: 'mutation($id: ID!, $outputs: JSON) { completeTask(id: $id, outputs: $outputs) { task { id } } }',
  FAIL: 'mutation($id: ID!, $reason: String) { failTask(id: $id, reason: $reason) { task { id } } }',
  REJECT: 'mutation($id: ID!, $reason: String) { rejectTask(id: $id, reason: $reason) { task { id } } }',
  CANCEL: 'mutation($id: ID!, $reason: String) { cancelTask(id: $id, reason: $reason) { task { id } } }',
  REOPEN: 'mutation($id: ID!, $reason: String) { reopenTask(id: $id, reason: $reason) { task { id } } }',
};
const LABEL = { CLAIM: 'Claim', COMPLETE: 'Complete', FAIL: 'Fail', REJECT: 'Reject', CANCEL: 'Cancel', REOPEN: 'Reopen' };
const WITH_REASON = ['FAIL', 'REJECT', 'CANCEL', 'REOPEN'];

function json(v) {
  return esc(JSON.stringify(v, null, 2));
}

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${esc(d.toLocaleString())}</time>`;
}

function taskList(items, empty) {
  if (!items || !items.length) return `<p class="muted">${empty}</p>`;
  return `<ul class="links">${items.map((t) => `<li><a href="#" data-open="${esc(t.id)}">#${esc(t.id)} ${esc(t.title)}</a> <span class="badge s-${statusOf(t)}">${LABELS[statusOf(t)]}</span></li>`).join('')}</ul>`;
}

function part(p) {
  switch (p.type) {
    case 'text': return `<p class="part-text">${esc(p.content)}</p>`;
    case 'data': return `<pre class="json part-data">${json(p.content)}</pre>`;
    case 'url': return `<p><a href="${esc(p.url || p.content)}" rel="noopener noreferrer">${esc(p.url || p.content)}</a></p>`;
    case 'file': return `<p>File: <a href="${esc(p.url)}" rel="noopener noreferrer">${esc(p.name || p.url)}</a> <span class="muted">${esc(p.mime || '')}</span></p>`;
    default: return `<pre class="json">${json(p)}</pre>`;
  }
}

export class Detail {
  constructor(root, { onClose, onOpen }) {
    this.root = root;
    this.onClose = onClose;
    this.onOpen = onOpen;
    this.id = null;
    this.task = null;
    this.pending = null;
    root.addEventListener('click', (e) => this.click(e));
    root.addEventListener('submit', (e) => this.submit(e));
    root.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); this.close(); } });
  }

  async open(id) {
    this.id = String(id);
    this.root.hidden = false;
    this.root.innerHTML = '<p class="muted">Loading…</p>';
    await this.refresh();
    const h = this.root.querySelector('h2');
    if (h) h.focus();
  }

  close() {
    this.id = null;
    this.task = null;
    this.root.hidden = true;
    this.root.innerHTML = '';
    this.onClose();
  }

  /** Reloads the open task (debounced when events arrive in bursts). */
  refreshSoon() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.refresh(), 150);
  }

  async refresh() {
    if (!this.id) return;
    const id = this.id;
    let data;
    try {
      data = await gql(DETAIL, { id });
    } catch (e) {
      if (id === this.id) this.root.innerHTML = `<p role="alert" class="error">${esc(e.message)}</p><button type="button" data-close>Close</button>`;
      return;
    }
    if (id !== this.id) return;
    if (!data.task) {
      this.root.innerHTML = `<h2 tabindex="-1">Task #${esc(id)}</h2><p role="alert" class="error">Task ${esc(id)} was not found (deleted, or not visible to you).</p><button type="button" data-close>Close</button>`;
      return;
    }
    const keep = this.drafts();
    this.task = data.task;
    this.render();
    this.restore(keep);
  }

  /** Values typed into the panel's forms, kept across a live refresh. */
  drafts() {
    const out = {};
    this.root.querySelectorAll('textarea, input').forEach((el) => { if (el.id) out[el.id] = el.value; });
    const focused = document.activeElement && this.root.contains(document.activeElement) ? document.activeElement.id : null;
    const alert = this.root.querySelector('#action-error');
    return { out, focused, error: alert ? alert.textContent : '' };
  }

  restore({ out, focused, error }) {
    for (const [id, v] of Object.entries(out)) {
      const el = this.root.querySelector(`#${CSS.escape(id)}`);
      if (el && el.value !== v && id !== 'd-priority') el.value = v;
    }
    if (error) this.showError(error);
    if (focused) { const el = this.root.querySelector(`#${CSS.escape(focused)}`); if (el) el.focus(); }
  }

  render() {
    const t = this.task;
    const status = statusOf(t);
    const acts = new Set(t.viewerActions);
    const life = Object.keys(MUTATIONS).filter((a) => acts.has(a));
    const lease = status === 'in_progress' && t.leaseExpires
      ? `<span class="lease" data-expires="${esc(t.leaseExpires)}">lease <span class="left">${countdown(t.leaseExpires)}</span></span>` : '';
    this.root.innerHTML = `
      <header class="detail-head">
        <h2 tabindex="-1">#${esc(t.id)} ${esc(t.title)}</h2>
        <button type="button" class="icon" data-close aria-label="Close the task">✕</button>
      </header>
      <p><span class="badge s-${status}" data-detail-status="${status}">${LABELS[status]}</span> ${lease} ${runMark(t)} ${dueMark(t)}</p>
      <dl class="facts">
        <dt>Priority</dt><dd>${esc(t.priority)}</dd>
        <dt>Channel</dt><dd>${esc(t.channel)}</dd>
        <dt>Type</dt><dd>${esc(t.type)}</dd>
        <dt>Project</dt><dd>${esc(t.org)}/${esc(t.project)}</dd>
        <dt>Created by</dt><dd>${esc(actorLabel(t.source))}</dd>
        <dt>Assignee</dt><dd>${esc(actorLabel(t.assignee)) || '—'}</dd>
        <dt>Attempts</dt><dd>${esc(t.attempts)}${t.maxAttempts ? ` of ${esc(t.maxAttempts)}` : ''}</dd>
        ${t.runAt ? `<dt>Runs at</dt><dd>${time(t.runAt)}</dd>` : ''}
        ${t.dueAt ? `<dt>Due</dt><dd>${time(t.dueAt)}</dd>` : ''}
        <dt>Created</dt><dd>${time(t.createdAt)}</dd>
        <dt>Updated</dt><dd>${time(t.updatedAt)}</dd>
        ${t.completedAt ? `<dt>Completed</dt><dd>${time(t.completedAt)}</dd>` : ''}
        ${t.reason ? `<dt>Reason</dt><dd>${esc(t.reason)}</dd>` : ''}
      </dl>
      ${t.description ? `<p class="desc">${esc(t.description)}</p>` : ''}

      <section aria-labelledby="d-actions-h" class="actions">
        <h3 id="d-actions-h">Actions</h3>
        <p id="action-error" role="alert" class="error" hidden></p>
        ${life.length || acts.has('UPDATE') ? '' : '<p class="muted" data-no-actions>You may only read this task.</p>'}
        <div class="buttons">
          ${life.filter((a) => a === 'CLAIM').map((a) => `<button type="button" data-action="${a}">${status === 'in_progress' ? 'Renew lease' : LABEL[a]}</button>`).join('')}
        </div>
        ${acts.has('COMPLETE') ? `
          <form data-form="COMPLETE" class="inline">
            <label for="d-outputs">Outputs (JSON object or array, optional)</label>
            <textarea id="d-outputs" rows="3" spellcheck="false" placeholder='{"result": "done"}'></textarea>
            <button type="submit" data-action="COMPLETE">Complete</button>
          </form>` : ''}
        ${life.some((a) => WITH_REASON.includes(a)) ? `
          <form data-form="REASON" class="inline">
            <label for="d-reason">Reason (optional)</label>
            <input id="d-reason" type="text" maxlength="10000">
            <div class="buttons">
              ${life.filter((a) => WITH_REASON.includes(a)).map((a) => `<button type="submit" data-action="${a}" class="${a === 'REOPEN' ? '' : 'danger'}">${LABEL[a]}</button>`).join('')}
            </div>
          </form>` : ''}
        ${acts.has('UPDATE') ? `
          <form data-form="PRIORITY" class="inline row">
            <label for="d-priority">Priority</label>
            <input id="d-priority" type="number" min="1" max="10" step="1" value="${esc(t.priority)}">
            <button type="submit">Save priority</button>
          </form>` : ''}
      </section>

      <section aria-labelledby="d-payload-h"><h3 id="d-payload-h">Payload</h3><pre class="json" tabindex="0">${json(t.payload)}</pre></section>
      <section aria-labelledby="d-outputs-h"><h3 id="d-outputs-h">Outputs</h3><pre class="json" tabindex="0">${json(t.outputs)}</pre></section>

      <section aria-labelledby="d-thread-h">
        <h3 id="d-thread-h">Messages (${t.messages.length})</h3>
        <ol class="thread">${t.messages.map((m) => `<li data-message-id="${esc(m.id)}"><div class="muted">${esc(actorLabel(m.actor))} · ${time(m.createdAt)}</div>${(m.parts || []).map(part).join('')}</li>`).join('') || '<li class="muted">No messages yet.</li>'}</ol>
        ${acts.has('ADD_MESSAGE') ? `
          <form data-form="MESSAGE" class="inline">
            <label for="d-message">Add a message</label>
            <textarea id="d-message" rows="2"></textarea>
            <button type="submit">Send</button>
          </form>` : ''}
      </section>

      <section aria-labelledby="d-deps-h">
        <h3 id="d-deps-h">Dependencies</h3>
        ${t.parent ? `<p>Subtask of <a href="#" data-open="${esc(t.parent.id)}">#${esc(t.parent.id)} ${esc(t.parent.title)}</a></p>` : ''}
        <h4>Blocked by</h4>${taskList(t.blockedBy, 'Nothing: every dependency is done.')}
        <h4>Depends on</h4>${taskList(t.dependsOn, 'No dependencies.')}
        <h4>Blocks</h4>${taskList(t.blocks, 'No task waits for this one.')}
        <h4>Subtasks</h4>${taskList(t.subtasks, 'No subtasks.')}
      </section>

      <section aria-labelledby="d-handoffs-h">
        <h3 id="d-handoffs-h">Handoffs</h3>
        ${t.handoffs.length ? `<ol class="thread">${t.handoffs.map((h) => `<li><div class="muted">${esc(actorLabel(h.actor))} · ${time(h.createdAt)}</div><p>${esc(h.summary)}</p>${h.nextSteps.length ? `<ul>${h.nextSteps.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>` : ''}</li>`).join('')}</ol>` : '<p class="muted">No handoffs.</p>'}
      </section>

      <section aria-labelledby="d-events-h">
        <h3 id="d-events-h">Timeline</h3>
        <ol class="timeline">${t.events.map((e) => `<li data-event-id="${esc(e.id)}"><code>${esc(e.type)}</code> <span class="muted">by ${esc(actorLabel(e.actor))} · ${time(e.createdAt)}</span></li>`).join('')}</ol>
      </section>`;
  }

  showError(message) {
    const el = this.root.querySelector('#action-error');
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  }

  click(e) {
    if (e.target.closest('[data-close]')) { this.close(); return; }
    const open = e.target.closest('[data-open]');
    if (open) { e.preventDefault(); this.onOpen(open.dataset.open); return; }
    const btn = e.target.closest('button[data-action]');
    if (btn && btn.type === 'button') this.run(btn.dataset.action, {});
  }

  submit(e) {
    e.preventDefault();
    const form = e.target;
    const kind = form.dataset.form;
    const action = (e.submitter && e.submitter.dataset.action) || kind;
    if (kind === 'COMPLETE') {
      const raw = form.querySelector('textarea').value.trim();
      let outputs = null;
      if (raw) {
        try { outputs = JSON.parse(raw); } catch (err) { this.showError(`outputs are not valid JSON: ${err.message}`); return; }
      }
      this.run('COMPLETE', { outputs });
    } else if (kind === 'REASON') {
      const reason = form.querySelector('input').value;
      this.run(action, reason ? { reason } : {});
    } else if (kind === 'PRIORITY') {
      const raw = form.querySelector('input').value;
      const priority = Number(raw);
      if (!Number.isInteger(priority)) { this.showError('priority must be a whole number'); return; }
      this.mutate('mutation($id: ID!, $p: Int) { updateTask(id: $id, input: {priority: $p}) { task { id } } }', { p: priority });
    } else if (kind === 'MESSAGE') {
      const text = form.querySelector('textarea').value;
      this.mutate('mutation($id: ID!, $parts: [MessagePartInput!]!) { addMessage(taskId: $id, parts: $parts) { message { id } } }', { parts: [{ type: 'text', content: text }] })
        .then((ok) => { if (ok) { const ta = this.root.querySelector('#d-message'); if (ta) ta.value = ''; } });
    }
  }

  run(action, vars) {
    return this.mutate(MUTATIONS[action], vars);
  }

  async mutate(query, vars) {
    this.showError('');
    this.root.querySelectorAll('button').forEach((b) => { b.disabled = true; });
    try {
      await gql(query, { id: this.id, ...vars });
      await this.refresh();
      return true;
    } catch (e) {
      this.root.querySelectorAll('button').forEach((b) => { b.disabled = false; });
      this.showError(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
      return false;
    }
  }
}
