// Sign-in for servers that require credentials: a password login (a JWT from
// POST /auth/login, one of the routes a required-auth server answers without
// credentials) or an API key.

import { gql, setToken, ApiError } from './api.js';

/** POST /auth/login; resolves to `{token, expires_at, identity}`. */
async function login(input) {
  let res;
  try {
    res = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(input),
    });
  } catch (e) {
    throw new ApiError(`the server cannot be reached (${e.message})`, 'UNAVAILABLE');
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new ApiError((body && body.error) || `HTTP ${res.status}`, body && body.code);
  return body;
}
const ME = `{ me { actorType actorId displayName email } }`;

export function signinHtml(message = '') {
  return `
  <section class="signin" aria-labelledby="signin-h">
    <h2 id="signin-h">Sign in to ATS</h2>
    <p class="muted">This server requires credentials.</p>
    <p id="signin-error" role="alert" class="error" ${message ? '' : 'hidden'}>${message}</p>
    <form id="signin-form" novalidate>
      <div class="field"><label for="s-user">Email or actor id</label>
        <input id="s-user" name="user" autocomplete="username" required></div>
      <div class="field"><label for="s-password">Password</label>
        <input id="s-password" name="password" type="password" autocomplete="current-password" required></div>
      <button type="submit" class="primary">Sign in</button>
    </form>
    <details>
      <summary>Use an API key instead</summary>
      <form id="apikey-form" novalidate>
        <div class="field"><label for="s-key">API key</label>
          <input id="s-key" name="key" type="password" autocomplete="off" placeholder="ats_…"></div>
        <button type="submit">Use this key</button>
      </form>
    </details>
  </section>`;
}

/** Wires the forms inside `root`; resolves once a credential works. */
export function wireSignin(root, onSignedIn) {
  const error = root.querySelector('#signin-error');
  const show = (m) => { error.textContent = m; error.hidden = !m; };
  root.querySelector('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = e.target.elements.user.value.trim();
    const password = e.target.elements.password.value;
    if (!user || !password) { show('Enter your email or actor id and your password.'); return; }
    const input = user.includes('@') ? { email: user, password } : { actor_id: user, password };
    setToken(null);
    try {
      const data = await login(input);
      setToken(data.token);
      onSignedIn({ actorType: data.identity.actor_type, actorId: data.identity.actor_id, displayName: data.identity.display_name });
    } catch (err) {
      show(err instanceof ApiError ? `Sign-in failed: ${err.message}` : String(err));
      e.target.elements.password.select();
    }
  });
  root.querySelector('#apikey-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = e.target.elements.key.value.trim();
    if (!key) { show('Paste an API key.'); return; }
    setToken(key);
    try {
      const data = await gql(ME);
      onSignedIn(data.me);
    } catch (err) {
      setToken(null);
      show(`That API key was refused: ${err.message}`);
    }
  });
}

export { ME };
