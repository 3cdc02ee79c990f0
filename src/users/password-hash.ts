/**
 * Password hashing with scrypt (memory-hard, node:crypto) in a self-describing format:
 *   $scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>
 * Parameters travel with the hash, so the cost can be raised later without breaking
 * stored hashes (`needsRehash` tells when a hash is older than the configured cost).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

interface Parsed {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const FORMAT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function parse(stored: string): Parsed | undefined {
  const match = FORMAT.exec(stored);
  if (!match) return undefined;
  const ln = Number(match[1]);
  const r = Number(match[2]);
  const p = Number(match[3]);
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  return { ln, r, p, salt: Buffer.from(match[4] as string, 'base64'), hash: Buffer.from(match[5] as string, 'base64') };
}

function options(ln: number, r: number, p: number): ScryptOptions {
  return { N: 2 ** ln, r, p, maxmem: 256 * 2 ** ln * r + 4 * 1024 * 1024 };
}

export class PasswordHasher {
  readonly cost: number;
  /** Salt and key of the dummy verification: random, never a hash of anything, never matched. */
  private readonly dummySalt = randomBytes(SALT_LENGTH);
  private readonly dummyKey = randomBytes(KEY_LENGTH);

  constructor(cost = 15) {
    if (!Number.isInteger(cost) || cost < 10 || cost > 20) throw new TypeError('password hash cost (log2 N) must be 10..20');
    this.cost = cost;
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_LENGTH);
    const key = await scrypt(password, salt, options(this.cost, 8, 1));
    return `$scrypt$ln=${this.cost},r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}`;
  }

  /** Constant-time comparison; a malformed stored hash verifies as false (fail closed). */
  async verify(password: string, stored: string): Promise<boolean> {
    const parsed = parse(stored);
    if (!parsed || parsed.hash.length !== KEY_LENGTH) {
      await this.verifyDummy(password);
      return false;
    }
    const key = await scrypt(password, parsed.salt, options(parsed.ln, parsed.r, parsed.p));
    // A hash made at a cheaper cost than today's answers faster than the dummy an unknown name
    // spends: padded with one dummy at the configured cost, match or not, so that the time
    // does not tell a name with an old hash from a name that does not exist.
    if (parsed.ln < this.cost) await this.verifyDummy(password);
    return timingSafeEqual(key, parsed.hash);
  }

  /**
   * Spends the work of one verification at the configured cost and matches nothing: for unknown
   * users, names that go to the directory, locked or refused attempts (no enumeration by
   * timing). Needs no precomputed hash, so the first call costs the same as every other one.
   */
  async verifyDummy(password: string): Promise<void> {
    const key = await scrypt(password, this.dummySalt, options(this.cost, 8, 1));
    timingSafeEqual(key, this.dummyKey);
  }

  needsRehash(stored: string): boolean {
    const parsed = parse(stored);
    return !parsed || parsed.ln < this.cost;
  }
}
