/**
 * InfluxDB v1 clients' query credentials (SPEC 3): on a route with `query_credentials: true` the
 * `u` and `p` query parameters are read as Basic and removed from the query that is forwarded
 * (and from the request target every later step, log line and event sees).
 */

/** The query without `u` and `p` (other parameters byte for byte), and the Basic value they make. */
export function takeQueryCredentials(query: string): { query: string; authorization: string | undefined } {
  if (query === '' || !/(^|&)[up]=/.test(query)) return { query, authorization: undefined };
  let username: string | undefined;
  let password: string | undefined;
  const kept: string[] = [];
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (name === 'u' || name === 'p') {
      const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
      if (name === 'u') username ??= value;
      else password ??= value;
      continue;
    }
    kept.push(pair);
  }
  const authorization = username !== undefined && username !== '' && password !== undefined ? `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` : undefined;
  return { query: kept.join('&'), authorization };
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    return value;
  }
}
