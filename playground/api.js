// The GraphQL client of the dashboard: one `gql()` that sends the caller's
// credentials (a JWT or API key in required mode, actor headers in open mode)
// and turns GraphQL errors into an ApiError carrying the server's sentence and code.

const TOKEN_KEY = 'ats.token';
const ACTOR_KEY = 'ats.actor';

export class ApiError extends Error {
  constructor(message, code, path) {
    super(message);
    this.code = code || 'INTERNAL';
    this.path = path || null;
  }
}

export const session = {
  token: localStorage.getItem(TOKEN_KEY) || null,
  actor: readActor(),
  identity: null,
};

function readActor() {
  try {
    const a = JSON.parse(localStorage.getItem(ACTOR_KEY) || 'null');
    if (a && a.id) return a;
  } catch { /* ignore */ }
  return { type: 'human', id: 'dashboard', name: '' };
}

export function setToken(token) {
  session.token = token || null;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Whether the page signed in with an API key (they start `ats_`) rather than a password. */
export function signedInWithKey() {
  return Boolean(session.token && session.token.startsWith('ats_'));
}

export function setActor(actor) {
  session.actor = actor;
  localStorage.setItem(ACTOR_KEY, JSON.stringify(actor));
}

/** Headers for HTTP requests. */
export function authHeaders() {
  if (session.token) return { Authorization: `Bearer ${session.token}` };
  const a = session.actor;
  const h = { 'X-Actor-Type': a.type || 'human', 'X-Actor-ID': a.id };
  if (a.name) h['X-Actor-Name'] = a.name;
  return h;
}

/** The `connection_init` payload of the subscription socket. */
export function initPayload() {
  if (session.token) return { Authorization: `Bearer ${session.token}` };
  const a = session.actor;
  const p = { 'X-Actor-Type': a.type || 'human', 'X-Actor-ID': a.id };
  if (a.name) p['X-Actor-Name'] = a.name;
  return p;
}

/** Runs a query or mutation; resolves to `data`, rejects with ApiError. */
export async function gql(query, variables = {}) {
  const sent = session.token;
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...authHeaders() },
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new ApiError(`the server cannot be reached (${e.message})`, 'UNAVAILABLE');
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (body && Array.isArray(body.errors) && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code;
    // Sent with a token the page has since replaced (a password change):
    // refused before it ran, so it is asked again with the new one.
    if (code === 'UNAUTHENTICATED' && sent && session.token && session.token !== sent) return gql(query, variables);
    throw new ApiError(e.message, code, e.path);
  }
  if (!res.ok || !body) {
    throw new ApiError((body && body.error) || `HTTP ${res.status}`, (body && body.code) || 'INTERNAL');
  }
  return body.data;
}

/** The fields every board card shows (also asked of every live event's task). */
export const CARD_FIELDS = `id title description type channel priority status org project
  assignee { type id name } leaseExpires runAt dueAt overdue createdAt updatedAt`;
