/**
 * What `body:` and `sql:` conditions see of a body the gateway has read (SPEC 5): the top-level
 * fields of a JSON object (`application/json`, `*\/*+json`) or of a form
 * (`application/x-www-form-urlencoded`). Anything else cannot be evaluated: another type, a
 * compressed body, one longer than server.max_inspect_body, unparsable text, a JSON value that
 * is not an object, or a duplicated top-level key (backends disagree on which of the two counts).
 */
import { type BodyView, parseUrlEncoded } from './conditions.js';

const JSON_TYPE = /^\s*(application\/json|[a-z0-9.+-]+\/[a-z0-9.+-]*\+json)\s*(;|$)/i;
const FORM_TYPE = /^\s*application\/x-www-form-urlencoded\s*(;|$)/i;

export function bodyView(contentType: string | undefined, body: Buffer | undefined): BodyView {
  if (body === undefined) return { kind: 'unevaluable' };
  if (body.length === 0 && contentType === undefined) return { kind: 'none' };
  if (contentType === undefined) return { kind: 'unevaluable' };
  if (FORM_TYPE.test(contentType)) return formView(body.toString('latin1'));
  if (!JSON_TYPE.test(contentType)) return { kind: 'unevaluable' };
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'unevaluable' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'unevaluable' };
  if (hasDuplicateTopLevelKey(text)) return { kind: 'unevaluable' };
  return { kind: 'json', fields: value as Record<string, unknown> };
}

function formView(text: string): BodyView {
  const fields = parseUrlEncoded(text);
  return fields === undefined ? { kind: 'unevaluable' } : { kind: 'form', fields };
}

/**
 * Whether valid JSON text (an object) names a key twice at its top level, keys compared as
 * decoded (`"a"` and `"\u0061"` are one key). Walks strings and nesting; the text parsed already.
 */
export function hasDuplicateTopLevelKey(text: string): boolean {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (seen.has(key)) return true;
        seen.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return false;
}
