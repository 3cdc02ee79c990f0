/**
 * Budgets (SPEC 5: `quota: {requests}` without `per`) as the API shows and resets them: what is
 * left of each for `GET /api/me`, and a fresh count when an admin sets a user's total through
 * PATCH `quotas`.
 */
import { BUDGET_WINDOW, quotaKey } from '../authz/budgets.js';
import type { Config } from '../config/schema.js';
import type { Store, UserRecord } from '../store/types.js';

/** The rules whose quota is a budget, with their configured total. */
function budgetRules(config: Config): Array<{ name: string; requests: number }> {
  return config.access.rules.flatMap((rule) => (rule.quota !== undefined && rule.quota.per === undefined ? [{ name: rule.name, requests: rule.quota.requests }] : []));
}

/** `{"<rule>": {limit, remaining}}` for every budget rule, the user's own total where it has one. */
export async function budgetsOf(config: Config, store: Store, user: UserRecord): Promise<Record<string, { limit: number; remaining: number }>> {
  const out: Record<string, { limit: number; remaining: number }> = {};
  for (const rule of budgetRules(config)) {
    const own = Object.hasOwn(user.quotas, rule.name) ? user.quotas[rule.name] : undefined;
    const limit = typeof own === 'number' ? own : rule.requests;
    const spent = await store.quotaCount(quotaKey(rule.name, user.username), BUDGET_WINDOW);
    out[rule.name] = { limit, remaining: Math.max(0, limit - spent) };
  }
  return out;
}

/** Starts the count of each budget rule named in a PATCH of `quotas` afresh for the user. */
export async function resetBudgets(config: Config, store: Store, username: string, quotas: Readonly<Record<string, number>>): Promise<void> {
  const budgets = new Set(budgetRules(config).map((rule) => rule.name));
  for (const rule of Object.keys(quotas)) if (budgets.has(rule)) await store.resetQuota(quotaKey(rule, username));
}
