import { escapeHtml, page } from './html.js';

export function loginPage(options: { rd: string; error?: string; username?: string }): string {
  const error = options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>${error}
<form method="post" action="/.auth/login" autocomplete="on">
<input type="hidden" name="rd" value="${escapeHtml(options.rd)}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required maxlength="256" value="${escapeHtml(options.username ?? '')}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button type="submit">Sign in</button>
</form>`,
  );
}

export function passwordPage(options: { rd: string; username: string; forced: boolean; error?: string; done?: boolean }): string {
  const error = options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  const note = options.forced ? '<p>You must choose a new password before you continue.</p>' : '';
  if (options.done) {
    return page(
      'Password changed',
      `<h1>Password changed</h1><p class="ok">Your password was changed. Please sign in again.</p><p><a href="/.auth/login?rd=${encodeURIComponent(options.rd)}">Sign in</a></p>`,
    );
  }
  return page(
    'Change password',
    `<h1>Change password</h1><p class="muted">Signed in as ${escapeHtml(options.username)}</p>${note}${error}
<form method="post" action="/.auth/password">
<input type="hidden" name="rd" value="${escapeHtml(options.rd)}">
<label for="current_password">Current password</label><input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
<label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>
</form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

/** The login form's answer to an expired directory password (SPEC 18): the old one again and a new one. */
export function expiredPasswordPage(options: { rd: string; username: string; error?: string }): string {
  const error = options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : '';
  return page(
    'Password expired',
    `<h1>Your directory password has expired</h1><p>Choose a new one to sign in. The directory checks it against its own rules.</p>${error}
<form method="post" action="/.auth/login">
<input type="hidden" name="rd" value="${escapeHtml(options.rd)}">
<input type="hidden" name="username" value="${escapeHtml(options.username)}">
<label for="password">Current password</label><input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" autofocus>
<label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" required maxlength="1024">
<button type="submit">Change password and sign in</button>
</form>`,
  );
}
