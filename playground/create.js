// The create form. The server's validation is the one that counts: the form
// sends what was typed and shows the API's error sentence next to the field
// it names (title, priority, payload, …); only text that is not JSON at all
// is caught here, since it cannot be sent as a JSON payload.

import { gql, ApiError } from './api.js';
import { esc } from './board.js';

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } } }`;
const FIELDS = ['title', 'description', 'type', 'channel', 'priority', 'payload'];

/** The form field an API error sentence is about ("priority must be …" → priority). */
export function fieldOf(message) {
  const m = /^(?:input\.)?(\w+)/.exec(String(message).trim());
  const word = m ? m[1].toLowerCase() : '';
  return FIELDS.includes(word) ? word : null;
}

export class CreateForm {
  constructor(dialog, { target, onCreated }) {
    this.dialog = dialog;
    this.target = target; // () => ({org, project})
    this.onCreated = onCreated;
    this.form = dialog.querySelector('form');
    this.form.addEventListener('submit', (e) => this.submit(e));
    dialog.querySelector('[data-cancel]').addEventListener('click', () => this.close());
  }

  open() {
    const { org, project } = this.target();
    this.dialog.querySelector('[data-where]').textContent = `${org}/${project}`;
    this.clearErrors();
    if (typeof this.dialog.showModal === 'function') this.dialog.showModal();
    else this.dialog.setAttribute('open', '');
    this.form.elements.title.focus();
  }

  close() {
    if (typeof this.dialog.close === 'function') this.dialog.close();
    else this.dialog.removeAttribute('open');
  }

  clearErrors() {
    this.form.querySelectorAll('[data-error-for]').forEach((el) => { el.textContent = ''; el.hidden = true; });
    this.form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  }

  fieldError(field, message) {
    const slot = this.form.querySelector(`[data-error-for="${field || 'form'}"]`) || this.form.querySelector('[data-error-for="form"]');
    slot.textContent = message;
    slot.hidden = false;
    const input = field && this.form.elements[field];
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  }

  async submit(e) {
    e.preventDefault();
    this.clearErrors();
    const f = this.form.elements;
    const { org, project } = this.target();
    const input = { org, project, title: f.title.value };
    if (f.description.value.trim()) input.description = f.description.value;
    if (f.type.value.trim()) input.type = f.type.value.trim();
    if (f.channel.value.trim()) input.channel = f.channel.value.trim();
    if (f.priority.value.trim() !== '') {
      const p = Number(f.priority.value);
      if (!Number.isInteger(p)) { this.fieldError('priority', 'priority must be a whole number'); return; }
      input.priority = p;
    }
    if (f.payload.value.trim()) {
      try { input.payload = JSON.parse(f.payload.value); } catch (err) {
        this.fieldError('payload', `payload is not valid JSON: ${err.message}`);
        return;
      }
    }
    const button = this.form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const data = await gql(CREATE, { input });
      this.form.reset();
      this.close();
      this.onCreated(data.createTask.task.id);
    } catch (err) {
      const message = err instanceof ApiError ? err.message : String(err);
      this.fieldError(fieldOf(message), message);
    } finally {
      button.disabled = false;
    }
  }
}

export function createDialogHtml() {
  const field = (name, label, control, hint = '') => `
    <div class="field">
      <label for="c-${name}">${label}</label>
      ${control}
      ${hint ? `<small id="c-${name}-hint" class="muted">${hint}</small>` : ''}
      <p class="field-error" data-error-for="${name}" role="alert" hidden></p>
    </div>`;
  return `
  <form novalidate>
    <h2>New task in <span data-where></span></h2>
    ${field('title', 'Title', '<input id="c-title" name="title" required maxlength="500" aria-describedby="c-title-hint" autocomplete="off">', '1–500 characters')}
    ${field('description', 'Description', '<textarea id="c-description" name="description" rows="3"></textarea>')}
    <div class="row">
      ${field('type', 'Type', '<input id="c-type" name="type" placeholder="task" list="types-list" autocomplete="off">')}
      ${field('channel', 'Channel', '<input id="c-channel" name="channel" placeholder="default" list="channels-list" autocomplete="off">')}
      ${field('priority', 'Priority', '<input id="c-priority" name="priority" type="number" min="1" max="10" step="1" placeholder="5" aria-describedby="c-priority-hint">', '1 (low) – 10 (urgent)')}
    </div>
    ${field('payload', 'Payload (JSON object)', '<textarea id="c-payload" name="payload" rows="4" spellcheck="false" placeholder="{}" aria-describedby="c-payload-hint"></textarea>', 'must be a JSON object')}
    <p class="field-error" data-error-for="form" role="alert" hidden></p>
    <div class="buttons">
      <button type="submit" class="primary">Create</button>
      <button type="button" data-cancel>Cancel</button>
    </div>
  </form>`;
}

export { esc };
