/** Readable tables for people, JSON for scripts. */
export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cells = rows.map((row) => columns.map((c) => format(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

export function format(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.map(format).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  // Control characters from the server (C0, DEL, C1 such as the one-byte CSI) never reach the
  // terminal as such.
  // eslint-disable-next-line no-control-regex
  return String(value).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export function print(value: unknown, json: boolean, render: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : render());
}
