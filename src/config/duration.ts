const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** What a duration string looks like; also its `pattern` in the Helm chart's values.schema.json. */
export const DURATION_PATTERN = '^\\s*(\\d+(?:\\.\\d+)?)(ms|s|m|h|d)\\s*$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** Parses `500ms`, `30s`, `15m`, `8h`, `7d` into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_RE.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (UNITS[match[2] as string] as number);
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

/** Formats milliseconds back into the shortest exact duration string. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] as number;
    if (ms % size === 0 && ms >= size) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
