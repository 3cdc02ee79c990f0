/** RFC 4515 filter-value escaping: `*`, `(`, `)`, `\`, NUL and every non-ASCII byte as \XX. */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x2a || byte === 0x28 || byte === 0x29 || byte === 0x5c || byte === 0x00 || byte >= 0x80 || byte < 0x20) out += '\\' + byte.toString(16).padStart(2, '0');
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** RFC 4514 attribute-value escaping for building a DN from a template. */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    const code = ch.charCodeAt(0);
    if (code === 0) out += '\\00';
    else if (',+"\\<>;='.includes(ch)) out += '\\' + ch;
    else if ((ch === ' ' || ch === '#') && i === 0) out += '\\' + ch;
    else if (ch === ' ' && i === value.length - 1) out += '\\ ';
    else if (code < 0x20) out += '\\' + code.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out;
}

/** Substitutes `{name}` placeholders with already-escaped values. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{(username|dn)\}/g, (_m, key: string) => values[key] ?? '');
}
