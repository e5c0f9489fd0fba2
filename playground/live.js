// A graphql-transport-ws client for `taskEvents`: sends the credentials in
// `connection_init`, resubscribes after a reconnect with `after` = the last
// event id it saw (so nothing is missed), drops any event id it has already
// delivered (so nothing doubles), and reports its state for the indicator.

import { initPayload, CARD_FIELDS } from './api.js';

const QUERY = `subscription($filter: TaskEventFilter, $after: ID) {
  taskEvents(filter: $filter, after: $after) {
    id type taskId channel createdAt
    actor { type id name }
    task { ${CARD_FIELDS} }
  }
}`;

export class LiveEvents {
  /**
   * @param {object} opts
   * @param {(ev: object) => void} opts.onEvent each new event, once
   * @param {(state: string, detail?: string) => void} opts.onState connecting | live | reconnecting | denied
   * @param {() => void} opts.onResync called after a reconnect when no cursor is known
   */
  constructor({ onEvent, onState, onResync }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.onResync = onResync || (() => {});
    this.filter = null;
    this.lastId = null;
    this.seen = new Set();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.subId = 0;
    this.everConnected = false;
  }

  /** (Re)starts with a new filter; forgets the cursor when `fresh`. */
  start(filter, { fresh = true } = {}) {
    this.filter = filter;
    if (fresh) {
      this.lastId = null;
      this.seen.clear();
      this.everConnected = false;
    }
    this.stopped = false;
    this.attempt = 0;
    this.close();
    this.connect();
    return new Promise((resolve) => { this.ready = resolve; });
  }

  stop() {
    this.stopped = true;
    this.close();
  }

  close() {
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = null;
      try { ws.close(1000, 'restart'); } catch { /* closed */ }
    }
  }

  connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
    this.onState(this.everConnected ? 'reconnecting' : 'connecting');
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    const resumed = this.everConnected;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: initPayload() }));
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      switch (msg.type) {
        case 'connection_ack':
          this.attempt = 0;
          this.subscribe();
          this.onState('live');
          if (resumed && this.lastId === null) this.onResync();
          this.everConnected = true;
          if (this.ready) { this.ready(); this.ready = null; }
          break;
        case 'ping':
          ws.send(JSON.stringify({ type: 'pong' }));
          break;
        case 'next': {
          const p = msg.payload || {};
          if (p.errors && p.errors.length) {
            const code = p.errors[0].extensions && p.errors[0].extensions.code;
            if (code === 'LAGGED') { this.subscribe(); return; }
            this.onState('error', p.errors[0].message);
            return;
          }
          const ev = p.data && p.data.taskEvents;
          if (ev) this.deliver(ev);
          break;
        }
        case 'error':
          this.onState('error', (msg.payload && msg.payload[0] && msg.payload[0].message) || 'subscription refused');
          break;
        case 'complete':
          break;
        default:
          break;
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (e.code === 4403 || e.code === 4401) {
        this.onState('denied', e.reason || 'the server refused the credentials');
        return;
      }
      this.reconnectLater();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  subscribe() {
    if (!this.ws) return;
    this.subId += 1;
    const variables = { filter: this.filter };
    if (this.lastId !== null) variables.after = String(this.lastId);
    this.ws.send(JSON.stringify({ id: `s${this.subId}`, type: 'subscribe', payload: { query: QUERY, variables } }));
  }

  deliver(ev) {
    const id = Number(ev.id);
    if (this.seen.has(id) || (this.lastId !== null && id <= this.lastId)) return;
    this.seen.add(id);
    if (this.seen.size > 5000) this.trim();
    if (this.lastId === null || id > this.lastId) this.lastId = id;
    this.onEvent(ev);
  }

  trim() {
    const keep = [...this.seen].sort((a, b) => a - b).slice(-2500);
    this.seen = new Set(keep);
  }

  reconnectLater() {
    this.attempt += 1;
    const base = Math.min(5000, 300 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * (base / 2);
    this.onState('reconnecting', `retry in ${Math.round(delay / 100) / 10} s`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Closes the socket as if the network dropped it (for tests and the "reconnect" button). */
  drop() {
    if (this.ws) this.ws.close(4000, 'dropped by the page');
  }
}
