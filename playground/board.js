// The board: one column per open status and a "Closed" column whose four
// terminal statuses are folded sections. Each status loads a page of cards at
// a time (highest priority first) with "Load more"; live events upsert or
// remove single cards, so a project with 10 000 tasks renders only what is shown.

import { gql, CARD_FIELDS } from './api.js';

export const OPEN = ['pending', 'in_progress'];
export const TERMINAL = ['completed', 'failed', 'rejected', 'cancelled'];
export const STATUSES = [...OPEN, ...TERMINAL];
export const LABELS = {
  pending: 'Pending', in_progress: 'In progress', completed: 'Completed',
  failed: 'Failed', rejected: 'Rejected', cancelled: 'Cancelled',
};
const PAGE = 50;

const LIST = `query($filter: TaskFilter, $first: Int, $after: String) {
  tasks(filter: $filter, orderBy: {field: PRIORITY, direction: DESC}, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { ${CARD_FIELDS} }
  }
}`;

export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function statusOf(t) {
  return String(t.status).toLowerCase();
}

export function actorLabel(a) {
  if (!a) return '';
  const type = String(a.type).toLowerCase();
  return a.name ? `${a.name} (${type}:${a.id})` : `${type}:${a.id}`;
}

/** Seconds left on a lease, as `1m 05s`; `expired` when past. */
export function countdown(iso, now = Date.now()) {
  const ms = Date.parse(iso) - now;
  if (!(ms > 0)) return 'expired';
  const s = Math.ceil(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * Whether an open task is overdue: the server reported it (`overdue`, set by
 * `task.overdue`), or its deadline has passed here and the report is on its way.
 */
export function isOverdue(t, now = Date.now()) {
  if (!OPEN.includes(statusOf(t))) return false;
  return Boolean(t.overdue) || Boolean(t.dueAt && Date.parse(t.dueAt) <= now);
}

/** An open task's deadline: a countdown (`due in 4m 12s`), or the overdue badge. */
export function dueMark(t, now = Date.now()) {
  if (!OPEN.includes(statusOf(t))) return '';
  const title = t.dueAt ? ` title="due ${esc(t.dueAt)}"` : '';
  if (isOverdue(t, now)) return `<span class="badge overdue-badge"${title}>overdue</span>`;
  if (!t.dueAt) return '';
  return `<span class="due" data-due="${esc(t.dueAt)}"${title}>due in <span class="left">${countdown(t.dueAt, now)}</span></span>`;
}

/** A pending task's scheduled time, while it is ahead: `runs in 30s`. */
export function runMark(t, now = Date.now()) {
  if (statusOf(t) !== 'pending' || !t.runAt || !(Date.parse(t.runAt) > now)) return '';
  return `<span class="runs" data-run-at="${esc(t.runAt)}" title="runs at ${esc(t.runAt)}">runs in <span class="left">${countdown(t.runAt, now)}</span></span>`;
}

/** The TaskFilter of the board's filters. */
export function taskFilter(f, status) {
  const filter = { org: f.org, project: f.project, statuses: [status.toUpperCase()] };
  if (f.channel) filter.channels = [f.channel];
  if (f.type) filter.types = [f.type];
  if (f.assignee) filter.assigneeId = f.assignee;
  if (f.pmin) filter.minPriority = Number(f.pmin);
  if (f.pmax) filter.maxPriority = Number(f.pmax);
  if (f.q) filter.search = f.q;
  return filter;
}

/** Whether a task (from an event) belongs on the board under filters `f`. */
export function matches(t, f) {
  if (t.org !== f.org || t.project !== f.project) return false;
  if (f.channel && t.channel !== f.channel) return false;
  if (f.type && t.type !== f.type) return false;
  if (f.assignee && !(t.assignee && t.assignee.id === f.assignee)) return false;
  if (f.pmin && t.priority < Number(f.pmin)) return false;
  if (f.pmax && t.priority > Number(f.pmax)) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    if (!`${t.title}\n${t.description || ''}`.toLowerCase().includes(q)) return false;
  }
  return true;
}

function byUrgency(a, b) {
  return b.priority - a.priority || Number(a.id) - Number(b.id);
}

export class Board {
  constructor(root, { onOpen }) {
    this.root = root;
    this.onOpen = onOpen;
    this.filters = null;
    this.cols = new Map();
    this.where = new Map(); // task id -> status column it is in
    this.generation = 0;
    this.build();
  }

  build() {
    const section = (status) => `
      <ol class="cards" data-status="${status}" aria-label="${LABELS[status]} tasks"></ol>
      <p class="empty" data-empty="${status}">No tasks</p>
      <button type="button" class="more" data-more="${status}" hidden>Load more</button>`;
    const folded = JSON.parse(localStorage.getItem('ats.open-sections') || '["completed"]');
    this.root.innerHTML = `
      ${OPEN.map((s) => `
        <section class="column" data-column="${s}" aria-labelledby="col-${s}">
          <h2 id="col-${s}">${LABELS[s]} <span class="count" data-count="${s}">…</span></h2>
          ${section(s)}
        </section>`).join('')}
      <section class="column closed" data-column="closed" aria-labelledby="col-closed">
        <h2 id="col-closed">Closed</h2>
        ${TERMINAL.map((s) => `
          <details data-section="${s}" ${folded.includes(s) ? 'open' : ''}>
            <summary>${LABELS[s]} <span class="count" data-count="${s}">…</span></summary>
            ${section(s)}
          </details>`).join('')}
      </section>`;
    for (const s of STATUSES) {
      this.cols.set(s, { tasks: new Map(), total: 0, cursor: null, more: false });
    }
    this.root.addEventListener('click', (e) => {
      const more = e.target.closest('[data-more]');
      if (more) { this.loadPage(more.dataset.more); return; }
      const link = e.target.closest('a.card-link');
      if (link && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) {
        e.preventDefault();
        this.onOpen(link.closest('[data-task-id]').dataset.taskId);
      }
    });
    this.root.addEventListener('toggle', () => {
      const open = TERMINAL.filter((s) => this.root.querySelector(`details[data-section="${s}"]`).open);
      localStorage.setItem('ats.open-sections', JSON.stringify(open));
    }, true);
    this.root.addEventListener('keydown', (e) => this.keys(e));
  }

  /** Arrow keys move between cards: up/down within a list, left/right across lists. */
  keys(e) {
    const card = e.target.closest && e.target.closest('a.card-link');
    if (!card || !['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight'].includes(e.key)) return;
    const links = (ol) => [...ol.querySelectorAll('a.card-link')];
    const ol = card.closest('ol.cards');
    const mine = links(ol);
    const i = mine.indexOf(card);
    let target = null;
    if (e.key === 'ArrowDown') target = mine[i + 1];
    if (e.key === 'ArrowUp') target = mine[i - 1];
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      const lists = [...this.root.querySelectorAll('ol.cards')].filter((l) => l.offsetParent !== null && links(l).length);
      const j = lists.indexOf(ol) + (e.key === 'ArrowRight' ? 1 : -1);
      if (lists[j]) { const other = links(lists[j]); target = other[Math.min(i, other.length - 1)]; }
    }
    if (target) { e.preventDefault(); target.focus(); }
  }

  /** Loads the first page of every status for `filters`. */
  async load(filters) {
    this.filters = { ...filters };
    this.generation += 1;
    this.where.clear();
    for (const s of STATUSES) {
      const c = this.cols.get(s);
      c.tasks.clear(); c.total = 0; c.cursor = null; c.more = false;
    }
    await Promise.all(STATUSES.map((s) => this.loadPage(s)));
  }

  async loadPage(status) {
    const gen = this.generation;
    const c = this.cols.get(status);
    const data = await gql(LIST, { filter: taskFilter(this.filters, status), first: PAGE, after: c.cursor });
    if (gen !== this.generation) return;
    const conn = data.tasks;
    c.total = conn.totalCount;
    c.cursor = conn.pageInfo.endCursor || c.cursor;
    c.more = conn.pageInfo.hasNextPage;
    for (const t of conn.nodes) {
      const prev = this.where.get(t.id);
      if (prev && prev !== status) continue; // a live event already placed it
      c.tasks.set(t.id, t);
      this.where.set(t.id, status);
    }
    this.render(status);
  }

  /** Applies a task as it is now (from an event). */
  upsert(t) {
    const status = statusOf(t);
    const prev = this.where.get(t.id);
    const fits = this.filters && matches(t, this.filters);
    if (prev) {
      const pc = this.cols.get(prev);
      pc.tasks.delete(t.id);
      this.where.delete(t.id);
      if (prev !== status || !fits) pc.total = Math.max(0, pc.total - 1);
      this.render(prev);
    }
    if (!fits) return;
    const c = this.cols.get(status);
    if (!prev || prev !== status) c.total += 1;
    c.tasks.set(t.id, t);
    this.where.set(t.id, status);
    this.render(status);
  }

  remove(id) {
    const prev = this.where.get(String(id));
    if (!prev) return;
    const c = this.cols.get(prev);
    c.tasks.delete(String(id));
    c.total = Math.max(0, c.total - 1);
    this.where.delete(String(id));
    this.render(prev);
  }

  /** Replaces the shown totals with fresh ones from the server. */
  setTotals(totals) {
    for (const [s, n] of Object.entries(totals)) {
      const c = this.cols.get(s);
      if (c) { c.total = n; this.renderCount(s); }
    }
  }

  renderCount(status) {
    const c = this.cols.get(status);
    const shown = c.tasks.size;
    this.root.querySelectorAll(`[data-count="${status}"]`).forEach((el) => {
      el.textContent = shown < c.total ? `${shown} of ${c.total}` : String(c.total);
    });
  }

  render(status) {
    const c = this.cols.get(status);
    const ol = this.root.querySelector(`ol[data-status="${status}"]`);
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-task-id]');
    const focusId = focused && ol.contains(focused) ? focused.dataset.taskId : null;
    const tasks = [...c.tasks.values()].sort(byUrgency);
    ol.innerHTML = tasks.map((t) => this.card(t)).join('');
    this.root.querySelector(`[data-empty="${status}"]`).hidden = tasks.length > 0;
    this.root.querySelector(`[data-more="${status}"]`).hidden = !c.more;
    this.renderCount(status);
    if (focusId) {
      const again = ol.querySelector(`[data-task-id="${focusId}"] a.card-link`);
      if (again) again.focus();
    }
  }

  card(t) {
    const status = statusOf(t);
    const href = `?${new URLSearchParams({ ...this.urlFilters(), task: t.id })}`;
    const lease = status === 'in_progress' && t.leaseExpires
      ? `<span class="lease" data-expires="${esc(t.leaseExpires)}" title="lease expires ${esc(t.leaseExpires)}">lease <span class="left">${countdown(t.leaseExpires)}</span></span>`
      : '';
    const now = Date.now();
    // `reported`: the server said so (task.overdue); `passed`: the deadline went by here first.
    const overdue = isOverdue(t, now) ? ` data-overdue="${t.overdue ? 'reported' : 'passed'}"` : '';
    return `<li class="card prio-${Math.min(10, Math.max(1, t.priority))}${overdue ? ' overdue' : ''}" data-task-id="${esc(t.id)}" data-status="${status}"${overdue}>
      <a class="card-link" href="${esc(href)}"><span class="card-id">#${esc(t.id)}</span> <span class="card-title">${esc(t.title)}</span></a>
      <div class="meta">
        <span class="prio" title="priority">P${esc(t.priority)}</span>
        <span class="chan" title="channel">#${esc(t.channel)}</span>
        <span class="type" title="type">${esc(t.type)}</span>
        ${t.assignee ? `<span class="who" title="assignee">@${esc(t.assignee.name || t.assignee.id)}</span>` : ''}
        ${lease}
        ${runMark(t, now)}
        ${dueMark(t, now)}
      </div>
    </li>`;
  }

  urlFilters() {
    const out = {};
    for (const [k, v] of Object.entries(this.filters || {})) if (v) out[k] = v;
    return out;
  }

  /**
   * Updates every countdown on the page (leases, deadlines, scheduled
   * times) in place, without asking the server: a deadline that passes
   * marks its card overdue until the server's `task.overdue` confirms it.
   */
  static tick(root = document) {
    const now = Date.now();
    const update = (el, left) => {
      const span = el.querySelector('.left');
      if (span && span.textContent !== left) span.textContent = left;
    };
    root.querySelectorAll('.lease[data-expires]').forEach((el) => {
      const left = countdown(el.dataset.expires, now);
      update(el, left);
      el.classList.toggle('expired', left === 'expired');
    });
    root.querySelectorAll('.due[data-due]').forEach((el) => {
      const left = countdown(el.dataset.due, now);
      if (left !== 'expired') { update(el, left); return; }
      const card = el.closest('.card');
      if (card) {
        card.classList.add('overdue');
        if (!card.dataset.overdue) card.dataset.overdue = 'passed';
      }
      const badge = document.createElement('span');
      badge.className = 'badge overdue-badge';
      badge.title = el.title;
      badge.textContent = 'overdue';
      el.replaceWith(badge);
    });
    root.querySelectorAll('.runs[data-run-at]').forEach((el) => {
      const left = countdown(el.dataset.runAt, now);
      if (left === 'expired') el.remove();
      else update(el, left);
    });
  }
}
