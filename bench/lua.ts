/** wrk Lua scripts for POST bodies and mixed traffic. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function postJsonScript(dir: string, name: string, body: unknown): string {
  const file = join(dir, `${name}.lua`);
  writeFileSync(file, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(JSON.stringify(body))}\nwrk.headers["Content-Type"] = "application/json"\n`);
  return file;
}

/** Rotates through header sets request by request (mixed-credential soak traffic). */
export function mixedScript(dir: string, headerSets: Array<Record<string, string>>): string {
  const file = join(dir, 'mixed.lua');
  const sets = headerSets
    .map(
      (h) =>
        `{${Object.entries(h)
          .map(([k, v]) => `[${JSON.stringify(k)}]=${JSON.stringify(v)}`)
          .join(',')}}`,
    )
    .join(',\n');
  writeFileSync(file, `local sets = {\n${sets}\n}\nlocal i = 0\nrequest = function()\n  i = i % #sets + 1\n  return wrk.format("GET", nil, sets[i], nil)\nend\n`);
  return file;
}

/**
 * Paced load: each connection waits `ms` after every answer before its next request, so both
 * proxies serve about the same request rate (connections × 1000 / (ms + latency)) instead of
 * each its own maximum. CPU per request then compares the work per request without the effect
 * of a slower proxy handling fewer requests per event-loop turn.
 */
export function pacedScript(dir: string, ms: number): string {
  const file = join(dir, 'paced.lua');
  writeFileSync(file, `delay = function()\n  return ${Number(ms)}\nend\n`);
  return file;
}
