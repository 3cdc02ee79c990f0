/**
 * Quota counters in the store (SPEC 5): a window's count under (key, window start), a budget's
 * under (key, BUDGET_WINDOW). A budget never resets by itself; an admin's PATCH of the user's
 * `quotas` for that rule starts it afresh (Store.resetQuota).
 */

/** The window start a budget is counted under: below every real window, never purged as old. */
export const BUDGET_WINDOW = -1;

/** The counter of one rule for one user (usernames compare case-insensitively). */
export function quotaKey(rule: string, username: string): string {
  return `${rule}:${username.toLowerCase()}`;
}
