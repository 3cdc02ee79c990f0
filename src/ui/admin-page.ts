/** The admin web UI shell (SPEC 11); all behaviour lives in /.auth/assets/admin.js. */
import { ADMIN_JS } from './assets/admin-js.js';
import { page } from './html.js';

export function adminPage(): string {
  return page('Admin', '<h1>Portcullis admin</h1><div id="app"><p class="muted">Loading…</p></div>', { scripts: ['/.auth/assets/admin.js'] }).replace(
    '<main class="card">',
    '<main class="card wide">',
  );
}

export const adminAssets: Record<string, string> = { 'admin.js': ADMIN_JS };
