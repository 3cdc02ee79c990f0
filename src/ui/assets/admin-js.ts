/**
 * The admin UI script (served as /.auth/assets/admin.js). Plain DOM, no framework; every
 * value from the API is inserted with textContent (never innerHTML), and every change goes
 * through the JSON API with the CSRF header.
 */
export const ADMIN_JS = String.raw`
'use strict';
(function () {
  const api = async (method, path, body) => {
    const res = await fetch('/.auth/api' + path, {
      method,
      credentials: 'same-origin',
      headers: Object.assign({ 'x-requested-with': 'portcullis', accept: 'application/json' }, body !== undefined ? { 'content-type': 'application/json' } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const err = new Error((json && json.error && json.error.message) || ('HTTP ' + res.status));
      err.status = res.status;
      err.code = json && json.error && json.error.code;
      err.fields = (json && json.error && json.error.fields) || {};
      throw err;
    }
    return json;
  };
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  };
  const root = document.getElementById('app');
  const status = el('p', { id: 'status', role: 'status', class: 'muted' });
  const say = (message, error) => {
    status.textContent = message;
    status.className = error ? 'error' : 'ok';
  };
  const explain = (err) => err.message + Object.entries(err.fields || {}).map(([k, v]) => ' — ' + k + ': ' + v).join('');
  const list = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
  // Attributes (SPEC 16) as one "key=value,value" line per key; undefined when a line has no key.
  const attributesText = (attributes) => Object.entries(attributes || {}).map(([key, values]) => key + '=' + values.join(',')).join('\n');
  const parseAttributes = (text) => {
    const out = {};
    for (const line of text.split('\n').map((s) => s.trim()).filter(Boolean)) {
      const at = line.indexOf('=');
      if (at <= 0) return undefined;
      out[line.slice(0, at).trim()] = list(line.slice(at + 1));
    }
    return out;
  };

  const state = { q: '', offset: 0, limit: 20 };

  async function start() {
    let me;
    try {
      me = await api('GET', '/me');
    } catch (err) {
      if (err.status === 401) return location.assign('/.auth/login?rd=' + encodeURIComponent('/.auth/admin'));
      if (err.code === 'password_change_required') return location.assign('/.auth/password?rd=' + encodeURIComponent('/.auth/admin'));
      return say(explain(err), true);
    }
    if (me.must_change_password) return location.assign('/.auth/password?rd=' + encodeURIComponent('/.auth/admin'));
    root.replaceChildren(
      el('p', { class: 'muted' }, 'Signed in as ', el('strong', { id: 'me', text: me.username }), ' · ', el('a', { href: '/.auth/password?rd=/.auth/admin', text: 'change password' }), ' · ',
        el('button', { type: 'button', class: 'secondary', id: 'logout', onclick: async () => { await fetch('/.auth/logout', { method: 'POST', credentials: 'same-origin' }); location.assign('/.auth/login'); } }, 'Sign out')),
      status,
    );
    if (!me.roles.includes('admin')) {
      root.append(el('p', { text: 'Your account has no admin role. You can manage your own API tokens below.' }));
      root.append(await tokensPanel(me.username, false));
      return;
    }
    root.append(
      el('nav', {}, el('a', { href: '#users', id: 'nav-users', onclick: () => showUsers() }, 'Users'), el('a', { href: '#events', id: 'nav-events', onclick: () => showEvents() }, 'Events')),
      el('section', { id: 'panel' }),
    );
    if (location.hash === '#events') showEvents();
    else showUsers();
  }

  const panel = () => document.getElementById('panel');

  async function showUsers() {
    const search = el('input', { id: 'search', type: 'search', placeholder: 'search username, name, email', value: state.q });
    const table = el('table', { id: 'users' });
    const pager = el('p', { id: 'pager' });
    const load = async () => {
      const data = await api('GET', '/users?limit=' + state.limit + '&offset=' + state.offset + (state.q ? '&q=' + encodeURIComponent(state.q) : ''));
      table.replaceChildren(el('tr', {}, ...['Username', 'Name', 'Roles', 'Projects', 'Source', 'Status', ''].map((h) => el('th', { text: h }))));
      for (const u of data.users) {
        table.append(el('tr', { 'data-username': u.username },
          el('td', { text: u.username }), el('td', { text: u.name }), el('td', { text: u.roles.join(', ') }), el('td', { text: u.projects.join(', ') }),
          el('td', { text: u.source }), el('td', { text: u.disabled ? 'disabled' : 'enabled' }),
          el('td', {}, el('button', { type: 'button', class: 'secondary', 'data-edit': u.username, onclick: () => editUser(u.username) }, 'Edit'))));
      }
      const last = Math.min(state.offset + state.limit, data.total);
      pager.replaceChildren(
        el('span', { text: (data.total === 0 ? 0 : state.offset + 1) + '–' + last + ' of ' + data.total + ' ' }),
        el('button', { type: 'button', class: 'secondary', id: 'prev', disabled: state.offset === 0 ? '' : null, onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, 'Previous'),
        ' ',
        el('button', { type: 'button', class: 'secondary', id: 'next', onclick: () => { if (last < data.total) { state.offset += state.limit; load(); } } }, 'Next'),
      );
      if (state.offset === 0) pager.querySelector('#prev').setAttribute('disabled', '');
      else pager.querySelector('#prev').removeAttribute('disabled');
    };
    search.addEventListener('input', () => { state.q = search.value; state.offset = 0; load().catch((e) => say(explain(e), true)); });
    panel().replaceChildren(el('h2', { text: 'Users' }), search, table, pager, createForm(load));
    await load().catch((e) => say(explain(e), true));
  }

  function createForm(reload) {
    const f = {
      username: el('input', { id: 'new-username', required: '' }),
      password: el('input', { id: 'new-password', type: 'password', autocomplete: 'new-password' }),
      name: el('input', { id: 'new-name' }),
      email: el('input', { id: 'new-email', type: 'email' }),
      roles: el('input', { id: 'new-roles', value: 'user' }),
      projects: el('input', { id: 'new-projects' }),
      mustChange: el('input', { id: 'new-must-change', type: 'checkbox', checked: '' }),
    };
    const form = el('form', { id: 'create-user' },
      el('h3', { text: 'Create user' }),
      el('label', { for: 'new-username', text: 'Username' }), f.username,
      el('label', { for: 'new-password', text: 'Password (empty only for api-only users)' }), f.password,
      el('label', { for: 'new-name', text: 'Name' }), f.name,
      el('label', { for: 'new-email', text: 'Email' }), f.email,
      el('label', { for: 'new-roles', text: 'Roles (comma-separated)' }), f.roles,
      el('label', { for: 'new-projects', text: 'Projects (comma-separated)' }), f.projects,
      el('label', {}, f.mustChange, ' must change password at first login'),
      el('button', { type: 'submit', id: 'create' }, 'Create'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = { username: f.username.value.trim(), roles: list(f.roles.value), projects: list(f.projects.value), name: f.name.value, email: f.email.value };
      if (f.password.value) { body.password = f.password.value; body.must_change_password = f.mustChange.checked; }
      try {
        await api('POST', '/users', body);
        say('Created ' + body.username);
        form.reset();
        await reload();
      } catch (err) { say(explain(err), true); }
    });
    return form;
  }

  async function editUser(username) {
    let u;
    try { u = await api('GET', '/users/' + encodeURIComponent(username)); } catch (err) { return say(explain(err), true); }
    const f = {
      name: el('input', { id: 'edit-name', value: u.name }),
      email: el('input', { id: 'edit-email', value: u.email }),
      roles: el('input', { id: 'edit-roles', value: u.roles.join(', ') }),
      projects: el('input', { id: 'edit-projects', value: u.projects.join(', ') }),
      grants: el('textarea', { id: 'edit-grants', rows: '4' }),
      attributes: el('textarea', { id: 'edit-attributes', rows: '4' }),
      disabled: el('input', { id: 'edit-disabled', type: 'checkbox' }),
      password: el('input', { id: 'edit-password', type: 'password', autocomplete: 'new-password' }),
    };
    f.grants.value = JSON.stringify(u.grants, null, 1);
    f.attributes.value = attributesText(u.attributes);
    if (u.disabled) f.disabled.setAttribute('checked', '');
    f.disabled.checked = u.disabled;
    const form = el('form', { id: 'edit-user' },
      el('h2', {}, 'Edit ', el('span', { id: 'edit-username', text: u.username }), el('span', { class: 'muted', text: ' (' + u.source + ', last login ' + (u.last_login_at || 'never') + ')' })),
      el('label', { for: 'edit-name', text: 'Name' }), f.name,
      el('label', { for: 'edit-email', text: 'Email' }), f.email,
      el('label', { for: 'edit-roles', text: 'Roles (comma-separated)' }), f.roles,
      el('label', { for: 'edit-projects', text: 'Projects (comma-separated)' }), f.projects,
      el('label', { for: 'edit-grants', text: 'Grants (JSON list of {paths, methods})' }), f.grants,
      el('label', { for: 'edit-attributes', text: 'Attributes (one key=value,value per line)' }), f.attributes,
      el('label', {}, f.disabled, ' disabled'),
      el('label', { for: 'edit-password', text: 'Reset password (the user must change it at next login)' }), f.password,
      el('button', { type: 'submit', id: 'save' }, 'Save'), ' ',
      el('button', { type: 'button', class: 'secondary', id: 'revoke', onclick: async () => { try { await api('POST', '/users/' + encodeURIComponent(u.username) + '/revoke'); say('Ended every session and token of ' + u.username); } catch (err) { say(explain(err), true); } } }, 'End sessions and tokens'), ' ',
      el('button', { type: 'button', class: 'danger', id: 'delete', onclick: async () => {
        if (!confirm('Delete ' + u.username + '?')) return;
        try { await api('DELETE', '/users/' + encodeURIComponent(u.username)); say('Deleted ' + u.username); showUsers(); } catch (err) { say(explain(err), true); }
      } }, 'Delete'), ' ',
      el('button', { type: 'button', class: 'secondary', id: 'back', onclick: () => showUsers() }, 'Back'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      let grants;
      try { grants = JSON.parse(f.grants.value || '[]'); } catch { return say('Grants are not valid JSON', true); }
      const attributes = parseAttributes(f.attributes.value);
      if (attributes === undefined) return say('Each attributes line is key=value,value', true);
      const body = { name: f.name.value, email: f.email.value, roles: list(f.roles.value), projects: list(f.projects.value), grants, attributes, disabled: f.disabled.checked };
      if (f.password.value) body.password = f.password.value;
      try {
        await api('PATCH', '/users/' + encodeURIComponent(u.username), body);
        say('Saved ' + u.username);
        f.password.value = '';
      } catch (err) { say(explain(err), true); }
    });
    panel().replaceChildren(form, credentialsPanel(u), await tokensPanel(u.username, true));
  }

  // Per-user backend credentials (SPEC 15): write-only, one field per route that takes one.
  function credentialsPanel(u) {
    const routes = u.upstream_credential_routes || [];
    const stored = new Set(u.upstream_credentials || []);
    const box = el('section', { id: 'credentials' });
    if (routes.length === 0) return box;
    box.append(el('h3', { text: 'Backend credentials' }), el('p', { class: 'muted', text: 'Write-only: a stored value is never shown again.' }));
    for (const route of routes) {
      const path = '/users/' + encodeURIComponent(u.username) + '/upstream-credentials/' + encodeURIComponent(route);
      const input = el('input', { id: 'cred-' + route, type: 'password', autocomplete: 'off' });
      const status = el('span', { class: 'muted', 'data-credential-status': route, text: stored.has(route) ? 'stored' : 'none' });
      box.append(el('label', { for: 'cred-' + route }, route + ' ', status), input,
        el('button', { type: 'button', 'data-credential-set': route, onclick: async () => {
          try { await api('PUT', path, { value: input.value }); input.value = ''; status.textContent = 'stored'; say('Stored the ' + route + ' credential of ' + u.username); } catch (err) { say(explain(err), true); }
        } }, 'Set'), ' ',
        el('button', { type: 'button', class: 'danger', 'data-credential-delete': route, onclick: async () => {
          try { await api('DELETE', path); status.textContent = 'none'; say('Deleted the ' + route + ' credential of ' + u.username); } catch (err) { say(explain(err), true); }
        } }, 'Delete'));
    }
    return box;
  }

  async function tokensPanel(username, asAdmin) {
    const table = el('table', { id: 'tokens' });
    const section = el('section', {}, el('h3', { text: 'API tokens of ' + username }), table);
    const load = async () => {
      const data = await api('GET', '/tokens' + (asAdmin ? '?user=' + encodeURIComponent(username) : ''));
      table.replaceChildren(el('tr', {}, ...['Name', 'Kind', 'Scope', 'Created', 'Expires', 'Last used', 'Status', ''].map((h) => el('th', { text: h }))));
      for (const t of data.tokens) {
        table.append(el('tr', { 'data-token': t.id },
          el('td', { text: t.name }), el('td', { text: t.kind }), el('td', { class: 'token-scope', text: (t.read_only ? 'read-only ' : '') + (t.scope ? t.scope.map((g) => g.paths.join(',') + (g.methods.length ? ' ' + g.methods.join(',') : '')).join('; ') : (t.read_only ? '' : 'all')) }), el('td', { text: t.created_at }), el('td', { text: t.expires_at }),
          el('td', { text: t.last_used_at || 'never' }), el('td', { text: t.revoked_at ? 'revoked' : 'active' }),
          el('td', {}, t.revoked_at ? null : el('button', { type: 'button', class: 'danger', 'data-revoke': t.id, onclick: async () => { try { await api('DELETE', '/tokens/' + encodeURIComponent(t.id)); say('Token revoked'); await load(); } catch (err) { say(explain(err), true); } } }, 'Revoke'))));
      }
    };
    await load().catch((e) => say(explain(e), true));
    section.append(createTokenForm(username, asAdmin, load));
    return section;
  }

  /** A new opaque token for the user, optionally read-only or scoped to paths and methods; its secret is shown once. */
  function createTokenForm(username, asAdmin, reload) {
    const name = el('input', { id: 'token-name', placeholder: 'name', required: '' });
    const expires = el('input', { id: 'token-expires', placeholder: 'expires in (30d)' });
    const readOnly = el('input', { id: 'token-read-only', type: 'checkbox' });
    const paths = el('input', { id: 'token-scope-paths', placeholder: 'scope paths, comma-separated (/api/**)' });
    const methods = el('input', { id: 'token-scope-methods', placeholder: 'scope methods (GET, POST)' });
    const secret = el('code', { id: 'token-secret' });
    const form = el('form', { id: 'create-token' }, el('h4', { text: 'New token' }), name, expires, el('label', {}, readOnly, ' read-only (GET, HEAD)'), paths, methods,
      el('button', { type: 'submit', id: 'create-token-submit' }, 'Create token'), el('p', {}, secret));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = { name: name.value.trim() };
      if (expires.value.trim()) body.expires_in = expires.value.trim();
      if (readOnly.checked) body.read_only = true;
      if (list(paths.value).length > 0) body.scope = { paths: list(paths.value), methods: list(methods.value).map((m) => m.toUpperCase()) };
      try {
        const created = await api('POST', '/tokens' + (asAdmin ? '?user=' + encodeURIComponent(username) : ''), body);
        secret.textContent = created.token;
        say('Token created: copy it now, it is shown once');
        await reload();
      } catch (err) {
        say(explain(err), true);
      }
    });
    return form;
  }

  async function showEvents() {
    const type = el('select', { id: 'event-type' }, el('option', { value: '', text: 'all types' }),
      ...['UserLoggedIn', 'UserLoginFailed', 'UserLoggedOut', 'UserCreated', 'UserUpdated', 'UserDeleted', 'PasswordChanged', 'TokenCreated', 'TokenRevoked'].map((t) => el('option', { value: t, text: t })));
    const user = el('input', { id: 'event-user', placeholder: 'username' });
    const since = el('input', { id: 'event-since', placeholder: 'since (1h, 7d or ISO time)' });
    const table = el('table', { id: 'events' });
    const load = async () => {
      const params = new URLSearchParams({ limit: '200' });
      if (type.value) params.set('type', type.value);
      if (user.value.trim()) params.set('username', user.value.trim());
      if (since.value.trim()) params.set('since', since.value.trim());
      const data = await api('GET', '/events?' + params.toString());
      table.replaceChildren(el('tr', {}, ...['Time', 'Event', 'User', 'Details'].map((h) => el('th', { text: h }))));
      for (const e of data.events) {
        const details = Object.entries(e).filter(([k]) => !['time', 'event', 'username', 'id'].includes(k)).map(([k, v]) => k + '=' + (typeof v === 'string' ? v : JSON.stringify(v))).join(' ');
        table.append(el('tr', {}, el('td', { text: e.time }), el('td', { text: e.event }), el('td', { text: e.username }), el('td', { text: details })));
      }
    };
    const form = el('form', { id: 'event-filters' }, type, user, since, el('button', { type: 'submit', id: 'filter' }, 'Filter'));
    form.addEventListener('submit', (event) => { event.preventDefault(); load().catch((e) => say(explain(e), true)); });
    panel().replaceChildren(el('h2', { text: 'Events' }), form, table);
    await load().catch((e) => say(explain(e), true));
  }

  start();
})();
`;
