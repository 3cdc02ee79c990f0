/**
 * A small renderer for the Go-template subset the Portcullis chart uses, because no helm
 * binary is available here: text/actions with `{{-`/`-}}` trimming, comments (`{{/* ... *\/}}`),
 * if/else/end, range, define, include, pipelines, and the functions the templates call (with
 * sprig's argument order). Anything else throws, so a template that strays from the subset fails
 * the test instead of rendering wrongly. Regular expressions are kept to what Go's RE2 and
 * JavaScript read alike.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';

type Node = { kind: 'text'; text: string } | { kind: 'action'; expr: string } | { kind: 'if'; expr: string; then: Node[]; else: Node[] } | { kind: 'range'; expr: string; body: Node[] };

function tokenizeTemplate(source: string): Array<{ text: string } | { action: string }> {
  const out: Array<{ text: string } | { action: string }> = [];
  let rest = source;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open === -1) {
      out.push({ text: rest });
      return out;
    }
    let text = rest.slice(0, open);
    let inner = rest.slice(open + 2);
    const close = inner.indexOf('}}');
    if (close === -1) throw new Error('unclosed {{');
    let action = inner.slice(0, close);
    rest = inner.slice(close + 2);
    if (action.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      action = action.slice(1);
    }
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      rest = rest.replace(/^\s+/, '');
    }
    out.push({ text }, { action: action.trim() });
    inner = '';
  }
}

function parseTemplate(source: string, defines: Map<string, Node[]>): Node[] {
  const tokens = tokenizeTemplate(source);
  let i = 0;
  const block = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const token = tokens[i++] as { text: string } | { action: string };
      if ('text' in token) {
        if (token.text) nodes.push({ kind: 'text', text: token.text });
        continue;
      }
      const action = token.action;
      if (action.startsWith('/*')) {
        if (!action.endsWith('*/')) throw new Error('a comment must be the whole action: {{/* ... */}}');
        continue;
      }
      const word = action.split(/\s+/)[0] ?? '';
      if (terminators.includes(word)) return { nodes, end: word };
      if (word === 'if') {
        const then = block(['else', 'end']);
        const otherwise = then.end === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'if', expr: action.slice(2).trim(), then: then.nodes, else: otherwise });
      } else if (word === 'range') {
        nodes.push({ kind: 'range', expr: action.slice(5).trim(), body: block(['end']).nodes });
      } else if (word === 'define') {
        const name = JSON.parse(action.slice(6).trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (word === 'else' || word === 'end') {
        throw new Error(`unexpected {{ ${word} }}`);
      } else nodes.push({ kind: 'action', expr: action });
    }
    if (terminators.length > 0) throw new Error(`missing {{ ${terminators.join(' / ')} }}`);
    return { nodes, end: '' };
  };
  return block([]).nodes;
}

type Token = { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'field'; v: string } | { t: 'ident'; v: string } | { t: 'punct'; v: '(' | ')' | '|' };

function lex(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?)|(\.[A-Za-z0-9_.]*)|([A-Za-z_][A-Za-z0-9_]*)|([()|]))/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < expr.length && (m = re.exec(expr))) {
    if (m[1] !== undefined) out.push({ t: 'str', v: JSON.parse(`"${m[1]}"`) as string });
    else if (m[2] !== undefined) out.push({ t: 'num', v: Number(m[2]) });
    else if (m[3] !== undefined) out.push({ t: 'field', v: m[3] });
    else if (m[4] !== undefined) out.push({ t: 'ident', v: m[4] });
    else out.push({ t: 'punct', v: m[5] as '(' | ')' | '|' });
  }
  if (expr.slice(re.lastIndex).trim() !== '') throw new Error(`cannot parse expression: ${expr}`);
  return out;
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

function toYaml(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  return stringify(value, { lineWidth: 0 }).replace(/\n$/, '');
}

export class ChartRenderer {
  private readonly defines = new Map<string, Node[]>();
  private readonly templates = new Map<string, Node[]>();
  private root: Record<string, unknown> = {};

  constructor(chartDir: string) {
    const dir = join(chartDir, 'templates');
    for (const file of readdirSync(dir).sort()) {
      const nodes = parseTemplate(readFileSync(join(dir, file), 'utf8'), this.defines);
      if (file.endsWith('.yaml')) this.templates.set(file, nodes);
    }
  }

  /** Renders every manifest; returns file → rendered text (empty files are left out). */
  render(values: Record<string, unknown>, release = { Name: 'test', Namespace: 'default', Service: 'Helm' }, chart: Record<string, unknown> = {}): Map<string, string> {
    this.root = { Values: values, Release: release, Chart: chart };
    const out = new Map<string, string>();
    for (const [file, nodes] of this.templates) {
      const text = this.exec(nodes, this.root);
      if (text.trim() !== '') out.set(file, text);
    }
    return out;
  }

  private exec(nodes: Node[], dot: unknown): string {
    let out = '';
    for (const node of nodes) {
      if (node.kind === 'text') out += node.text;
      else if (node.kind === 'action') out += this.format(this.evaluate(node.expr, dot));
      else if (node.kind === 'if') out += this.exec(truthy(this.evaluate(node.expr, dot)) ? node.then : node.else, dot);
      else {
        const items = this.evaluate(node.expr, dot);
        for (const item of Array.isArray(items) ? items : []) out += this.exec(node.body, item);
      }
    }
    return out;
  }

  private format(value: unknown): string {
    if (value === undefined || value === null) return '';
    if (typeof value === 'object') return toYaml(value);
    return String(value);
  }

  private evaluate(expr: string, dot: unknown): unknown {
    const tokens = lex(expr);
    let pos = 0;
    const pipeline = (): unknown => {
      let value = command(undefined, false);
      while (tokens[pos]?.t === 'punct' && tokens[pos]?.v === '|') {
        pos++;
        value = command(value, true);
      }
      return value;
    };
    const operand = (): unknown => {
      const token = tokens[pos++];
      if (!token) throw new Error(`unexpected end of ${expr}`);
      if (token.t === 'str' || token.t === 'num') return token.v;
      if (token.t === 'field') return this.field(token.v, dot);
      if (token.t === 'punct' && token.v === '(') {
        const value = pipeline();
        if (tokens[pos++]?.v !== ')') throw new Error(`missing ) in ${expr}`);
        return value;
      }
      throw new Error(`unexpected ${JSON.stringify(token)} in ${expr}`);
    };
    const command = (piped: unknown, hasPiped: boolean): unknown => {
      const head = tokens[pos];
      if (head?.t !== 'ident') {
        if (hasPiped) throw new Error(`a pipeline stage must be a function in ${expr}`);
        return operand();
      }
      pos++;
      const args: unknown[] = [];
      while (pos < tokens.length && !(tokens[pos]?.t === 'punct' && (tokens[pos]?.v === '|' || tokens[pos]?.v === ')'))) args.push(operand());
      if (hasPiped) args.push(piped);
      return this.call(head.v, args);
    };
    const value = pipeline();
    if (pos !== tokens.length) throw new Error(`trailing tokens in ${expr}`);
    return value;
  }

  /** `.a.b` against the current dot (as in Go templates: inside range, dot is the element). */
  private field(path: string, dot: unknown): unknown {
    let node: unknown = dot;
    for (const part of path.slice(1).split('.')) {
      if (part === '') continue;
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    }
    return node;
  }

  private call(name: string, args: unknown[]): unknown {
    const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
    switch (name) {
      case 'include': {
        const nodes = this.defines.get(s(args[0]));
        if (!nodes) throw new Error(`no template ${s(args[0])}`);
        return this.exec(nodes, args[1]);
      }
      case 'printf': {
        let i = 1;
        return s(args[0]).replace(/%[sdvq]/g, (verb) => (verb === '%q' ? JSON.stringify(s(args[i++])) : s(args[i++])));
      }
      case 'dict': {
        const out: Record<string, unknown> = {};
        for (let i = 0; i + 1 < args.length; i += 2) out[s(args[i])] = args[i + 1];
        return out;
      }
      case 'dig': {
        // dig "a" "b" default map: the value at a.b, or default when a key is missing.
        let node = args[args.length - 1];
        for (const key of args.slice(0, -2)) {
          if (!node || typeof node !== 'object' || !(s(key) in node)) return args[args.length - 2];
          node = (node as Record<string, unknown>)[s(key)];
        }
        return node;
      }
      case 'eq':
        return args.slice(1).some((a) => a === args[0]);
      case 'ne':
        return args[0] !== args[1];
      case 'regexMatch':
        return new RegExp(s(args[0])).test(s(args[1]));
      case 'regexReplaceAll':
        return s(args[1]).replace(new RegExp(s(args[0]), 'g'), s(args[2]).replace(/\$\{(\d+)\}/g, '$$$1'));
      case 'atoi':
        return /^[+-]?\d+$/.test(s(args[0])) ? Number(s(args[0])) : 0;
      case 'lt':
        return Number(args[0]) < Number(args[1]);
      case 'trunc':
        return s(args[1]).slice(0, Number(args[0]));
      case 'trimSuffix':
        return s(args[1]).endsWith(s(args[0])) ? s(args[1]).slice(0, -s(args[0]).length || undefined) : s(args[1]);
      case 'quote':
        return JSON.stringify(s(args[0]));
      case 'hasPrefix':
        return s(args[1]).startsWith(s(args[0]));
      case 'toYaml':
        return toYaml(args[0]);
      case 'nindent':
        return (
          '\n' +
          s(args[1])
            .split('\n')
            .map((line) => (line === '' ? line : ' '.repeat(Number(args[0])) + line))
            .join('\n')
        );
      case 'sha256sum':
        return createHash('sha256').update(s(args[0])).digest('hex');
      case 'fail':
        throw new Error(`fail: ${s(args[0])}`);
      case 'default':
        return truthy(args[1]) ? args[1] : args[0];
      case 'int':
        return Math.trunc(Number(args[0] ?? 0));
      case 'gt':
        return Number(args[0]) > Number(args[1]);
      case 'and':
        return args.every(truthy) ? args[args.length - 1] : args.find((a) => !truthy(a));
      case 'or':
        return args.find(truthy) ?? args[args.length - 1];
      case 'not':
        return !truthy(args[0]);
      default:
        throw new Error(`function ${name} is outside the supported subset`);
    }
  }
}

export function loadChart(chartDir: string): { renderer: ChartRenderer; values: Record<string, unknown>; chart: Record<string, unknown> } {
  const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const raw = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const chart = { Name: raw.name, Version: raw.version, AppVersion: raw.appVersion };
  return { renderer: new ChartRenderer(chartDir), values, chart };
}
