/**
 * JSON-lines logger. Every line is one JSON object with `time`, `level`, `msg` and snake_case
 * fields. Secrets never reach it: callers pass no passwords, tokens, cookies or hashes, and
 * `sanitiseUsername` keeps user-supplied names from forging log structure.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Writes an already-shaped record (events) as one line. */
  line(record: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (key === 'time' || key === 'level' || key === 'msg') continue;
        record[key] = value instanceof Error ? errorFields(value) : value;
      }
    }
    write(safeStringify(record) + '\n');
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    line: (record) => write(safeStringify(record) + '\n'),
  };
}

export function errorFields(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.cause instanceof Error) out.cause = errorFields(err.cause);
  return out;
}

function safeStringify(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify({ time: record.time, level: record.level, msg: record.msg, note: 'unserialisable fields dropped' });
  }
}

/**
 * A "username" that is really a credential: an opaque API token (`pcl_` and 43 base64url
 * characters) or a JWT, as sent by `curl -u "$TOKEN:"` or pasted into the login form. Such a
 * name never reaches the log, the events table or a webhook.
 */
const CREDENTIAL_SHAPED = /^(?:pcl_[A-Za-z0-9_-]{40,}|eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)\s*$/;

/** Truncates to 256 characters and escapes control characters (SPEC 10); a credential-shaped name is replaced. */
export function sanitiseUsername(value: unknown): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  if (CREDENTIAL_SHAPED.test(text)) return `(redacted: a credential, ${text.length} characters)`;
  // eslint-disable-next-line no-control-regex
  const escaped = text.slice(0, 256).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.slice(0, 256);
}

/** A logger that writes nothing (CLI commands that must keep stdout clean). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  line: () => undefined,
};
