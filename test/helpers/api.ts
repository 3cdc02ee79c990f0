/** Calls of the admin and self-service API (`/.auth/api/`) and of `POST /.auth/token`, with a token. */
import assert from 'node:assert/strict';
import type { TestGateway } from './gateway.js';

export interface ApiAnswer {
  status: number;
  json: any;
}

/** A JSON call with an API token, sent as `X-Authentication` or, with `as: 'bearer'`, `Authorization: Bearer`. */
export async function apiCall(gw: TestGateway, token: string, method: string, path: string, body?: unknown, as: 'x-authentication' | 'bearer' = 'x-authentication'): Promise<ApiAnswer> {
  const headers: Record<string, string> = as === 'bearer' ? { authorization: `Bearer ${token}` } : { 'x-authentication': token };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await gw.fetch(`/.auth/api${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** A fresh API token of the user, from `POST /.auth/token` (asserts 201). */
export async function tokenOf(gw: TestGateway, username: string, password: string): Promise<string> {
  const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(res.status, 201, `token of ${username}`);
  return ((await res.json()) as { token: string }).token;
}
