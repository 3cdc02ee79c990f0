/**
 * The `sql: read_only` condition (SPEC 5): is a statement, as a GreptimeDB-style HTTP SQL
 * endpoint would run it, exactly one read-only statement? Defence in depth behind the
 * database's own read-only account, so it errs on the side of "no": whatever two SQL dialects
 * could read differently is no match.
 *
 * A small tokenizer of our own rather than a parser from npm: the parsers there accept each
 * dialect's extensions silently (MySQL's `/*! … *\/` runs its contents, `#` and `--x` are comments
 * in one dialect and operators in another, a backslash ends a string in one and not in the
 * other), and such a difference is exactly a bypass. Here every such construct makes the
 * statement no match:
 * - strings `'…'` and identifiers `"…"`, `` `…` `` with doubled quotes inside; a backslash inside
 *   one, an unterminated one, `$` (dollar quoting) outside one;
 * - comments `/* … *\/` (not nested, not `/*!`) and `-- ` followed by whitespace or the end; `#`,
 *   and `--` followed by anything else.
 * After comments are removed the statement must be one statement (one trailing `;` allowed),
 * start with SELECT, SHOW, DESC, DESCRIBE, EXPLAIN (without ANALYZE/ANALYSE anywhere) or TQL
 * EVAL / TQL EXPLAIN, and hold no INTO keyword outside strings and identifiers.
 */

const READ_KEYWORDS = new Set(['SELECT', 'SHOW', 'DESC', 'DESCRIBE', 'EXPLAIN', 'TQL']);
const TQL_READS = new Set(['EVAL', 'EVALUATE', 'EXPLAIN']);

const ASCII_SPACE = /[ \t\n\r\f\v]/;

type Token = { kind: 'word'; text: string } | { kind: 'semicolon' } | { kind: 'other' };

/** The statement's tokens outside comments, or undefined when anything is ambiguous. */
function tokenize(sql: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (ASCII_SPACE.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      const end = quotedEnd(sql, i, c);
      if (end === undefined) return undefined;
      tokens.push({ kind: 'other' });
      i = end;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      if (sql[i + 2] === '!') return undefined;
      const close = sql.indexOf('*/', i + 2);
      if (close === -1 || sql.slice(i + 2, close).includes('/*')) return undefined;
      i = close + 2;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const after = sql[i + 2];
      // MySQL reads `--` as a comment only before ASCII whitespace: anything else is ambiguous.
      if (after !== undefined && !ASCII_SPACE.test(after)) return undefined;
      const newline = sql.indexOf('\n', i);
      i = newline === -1 ? sql.length : newline + 1;
      continue;
    }
    if (c === '#' || c === '$' || c === '\\') return undefined;
    if (c === ';') {
      tokens.push({ kind: 'semicolon' });
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let end = i + 1;
      while (end < sql.length && /[A-Za-z0-9_]/.test(sql[end] as string)) end++;
      tokens.push({ kind: 'word', text: sql.slice(i, end).toUpperCase() });
      i = end;
      continue;
    }
    tokens.push({ kind: 'other' });
    i++;
  }
  return tokens;
}

/** The index after a quoted string or identifier starting at `start`, or undefined (unterminated, or a backslash inside). */
function quotedEnd(sql: string, start: number, quote: string): number | undefined {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === '\\') return undefined;
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return undefined;
}

export function isReadOnlySql(sql: string): boolean {
  if (sql.length > 1_000_000) return false;
  const tokens = tokenize(sql);
  if (tokens === undefined || tokens.length === 0) return false;
  // One statement: a `;` only as the very last token.
  const semicolon = tokens.findIndex((token) => token.kind === 'semicolon');
  if (semicolon !== -1 && semicolon !== tokens.length - 1) return false;
  const first = tokens[0] as Token;
  if (first.kind !== 'word' || !READ_KEYWORDS.has(first.text)) return false;
  const words = tokens.flatMap((token) => (token.kind === 'word' ? [token.text] : []));
  if (words.includes('INTO')) return false;
  if (first.text === 'EXPLAIN' && (words.includes('ANALYZE') || words.includes('ANALYSE'))) return false;
  if (first.text === 'TQL') {
    const second = tokens[1];
    if (second?.kind !== 'word' || !TQL_READS.has(second.text)) return false;
    if (words.includes('ANALYZE') || words.includes('ANALYSE')) return false;
  }
  return true;
}
