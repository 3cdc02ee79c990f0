// TEMPORARY (lead): replaced by the admin UI implementation in progress.
import { page } from './html.js';
export function adminPage(): string {
  return page('Admin', '<h1>Admin</h1>');
}
export const adminAssets: Record<string, string> = {};
