import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_CONCURRENT_LOGINS_PER_CLIENT,
  PasswordChain,
  loginUnavailable,
  type ChainHasher,
  type PasswordChainOptions,
  type PasswordDirectory,
  type PasswordResult,
} from '../../../src/authn/password-chain.js';
import { MISS } from '../../../src/authn/hot-path.js';
import { clientKey } from '../../../src/http/client-ip.js';
import { UserCache } from '../../../src/authn/user-cache.js';
import { configSchema } from '../../../src/config/schema.js';
import { EventBus } from '../../../src/events/bus.js';
import type { RequestContext } from '../../../src/events/types.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { openStore } from '../../../src/store/open.js';
import type { Store } from '../../../src/store/types.js';
import { PasswordHasher } from '../../../src/users/password-hash.js';

const context = { ip: '127.0.0.1', user_agent: 'test', request_id: 'r' } as unknown as RequestContext;

/** Delegates to a real hasher and counts each kind of call (no timing involved). */
class CountingHasher implements ChainHasher {
  readonly real = new PasswordHasher(10);
  verifies = 0;
  dummies = 0;
  hashes = 0;

  get verifications(): number {
    return this.verifies + this.dummies;
  }
  reset(): void {
    this.verifies = 0;
    this.dummies = 0;
    this.hashes = 0;
  }
  async verify(password: string, stored: string): Promise<boolean> {
    this.verifies++;
    return this.real.verify(password, stored);
  }
  async verifyDummy(password: string): Promise<void> {
    this.dummies++;
    return this.real.verifyDummy(password);
  }
  async hash(password: string): Promise<string> {
    this.hashes++;
    return this.real.hash(password);
  }
  needsRehash(stored: string): boolean {
    return this.real.needsRehash(stored);
  }
}

/** A directory twin: carol/Carol-Ldap-1 binds, everything else is refused; counts binds. */
class FakeDirectory implements PasswordDirectory {
  binds = 0;
  down = false;
  async authenticate(username: string, password: string): Promise<Awaited<ReturnType<PasswordDirectory['authenticate']>>> {
    this.binds++;
    await new Promise((r) => setImmediate(r));
    if (this.down) throw new Error('connect ECONNREFUSED');
    if (username.toLowerCase() === 'carol' && password === 'Carol-Ldap-1') return { kind: 'ok', user: { username: 'carol', name: 'Carol', email: '', roles: ['user'], projects: [] } };
    return { kind: 'invalid' };
  }
}

interface Harness {
  store: Store;
  hasher: CountingHasher;
  directory: FakeDirectory;
  chain: PasswordChain;
  clock: { now: number };
}

async function harness(options: {
  ldap: boolean;
  maxFailures?: number;
  duration?: string;
  maxConcurrentLogins?: number;
  hasher?: CountingHasher;
  chain?: Partial<PasswordChainOptions>;
}): Promise<Harness> {
  const store = await openStore('sqlite::memory:');
  await store.migrate();
  const clock = { now: 1_700_000_000_000 };
  const now = (): number => clock.now;
  const config = configSchema.parse({
    users: { password_hash_cost: 10, lockout: { max_failures: options.maxFailures ?? 1000, window: '15m', duration: options.duration ?? '15m' } },
    ...(options.ldap ? { ldap: { url: 'ldap://127.0.0.1:1', user_base: 'ou=people,dc=example,dc=org' } } : {}),
  });
  const hasher = options.hasher ?? new CountingHasher();
  const directory = new FakeDirectory();
  const events = new EventBus({ logger: silentLogger, now });
  const chain = new PasswordChain({
    config,
    store,
    users: new UserCache(store),
    hasher,
    events,
    logger: silentLogger,
    directory: options.ldap ? directory : undefined,
    now,
    ...(options.maxConcurrentLogins ? { maxConcurrentLogins: options.maxConcurrentLogins } : {}),
    ...options.chain,
  });
  const base = {
    name: '',
    email: '',
    mapped_roles: [],
    projects: [],
    mapped_projects: [],
    disabled: false,
    must_change_password: false,
    grants: [],
    quotas: {},
    attributes: {},
    mapped_attributes: [],
    now: clock.now,
  };
  const create = async (username: string, fields: Record<string, unknown>): Promise<void> => {
    await store.createUser({ ...base, username, roles: ['user'], source: 'local', password_hash: null, ...fields });
  };
  await create('ann', { password_hash: await hasher.real.hash('Ann-Passw0rd1') });
  await create('dora', { password_hash: await hasher.real.hash('Dora-Passw0rd1'), disabled: true });
  await create('apionly', { roles: ['api'] });
  await create('partner', { source: 'jwt:portal' });
  await create('bob', { source: 'ldap' });
  await create('lockedlou', { password_hash: await hasher.real.hash('Lou-Passw0rd1') });
  await create('victim', { password_hash: await hasher.real.hash('Victim-Passw0rd1') });
  await store.setLockout('lockedlou', clock.now + 60_000);
  return { store, hasher, directory, chain, clock };
}

const reasonOf = (result: PasswordResult): string => (result.ok ? 'ok' : result.reason);
/** The value of an `Authorization: Basic` header for these credentials. */
const basicToken = (name: string, password: string): string => Buffer.from(`${name}:${password}`).toString('base64');

describe('every password login spends exactly one password verification', () => {
  for (const ldap of [false, true]) {
    describe(ldap ? 'with a directory configured' : 'without a directory', () => {
      let h: Harness;
      before(async () => {
        h = await harness({ ldap });
      });
      after(() => h?.store.close());

      const cases: [string, string, string, string][] = [
        ['a local user with an empty password', 'ann', '', 'bad_password'],
        ['a local user with a wrong password', 'ann', 'Wrong-Passw0rd1', 'bad_password'],
        ['a local user with the right password', 'ANN', 'Ann-Passw0rd1', 'ok'],
        ['a disabled user with the right password', 'dora', 'Dora-Passw0rd1', 'account_disabled'],
        ['a disabled user with an empty password', 'dora', '', 'bad_password'],
        ['a user without a password', 'apionly', '', 'bad_password'],
        ['a user without a password, given one', 'apionly', 'Some-Passw0rd1', 'bad_password'],
        ['a jwt:<issuer> user', 'partner', 'Some-Passw0rd1', 'bad_password'],
        ['a locked-out user with the right password', 'lockedlou', 'Lou-Passw0rd1', 'locked_out'],
        ['a locked-out user with an empty password', 'lockedlou', '', 'locked_out'],
        ['an unknown name', 'ghost', 'Some-Passw0rd1', 'unknown_user'],
        ['an unknown name with an empty password', 'ghost', '', 'unknown_user'],
        ['a name the chain never looks up', 'bad name', 'x', 'unknown_user'],
        ['an empty name', '', '', 'unknown_user'],
        ['an LDAP user with a wrong password', 'bob', 'Wrong-Passw0rd1', 'bad_password'],
        ['an LDAP user with an empty password', 'bob', '', 'bad_password'],
        ...(ldap ? ([['a directory user with the right password', 'carol', 'Carol-Ldap-1', 'ok']] as [string, string, string, string][]) : []),
      ];
      for (const [label, name, password, reason] of cases) {
        test(`${label}: one verification`, async () => {
          h.hasher.reset();
          const result = await h.chain.verify(name, password, 'form', context);
          assert.equal(reasonOf(result), reason);
          assert.equal(h.hasher.verifications, 1, `verify ${h.hasher.verifies} + dummy ${h.hasher.dummies}`);
          assert.equal(h.hasher.hashes, 0);
        });
      }

      test('a Basic credential verified before is answered from the cache without any hashing', async () => {
        assert.equal(reasonOf(await h.chain.verify('ann', 'Ann-Passw0rd1', 'basic', context, basicToken('ann', 'Ann-Passw0rd1'))), 'ok');
        h.hasher.reset();
        const again = await h.chain.verify('ann', 'Ann-Passw0rd1', 'basic', context, basicToken('ann', 'Ann-Passw0rd1'));
        assert.ok(again.ok && again.cached);
        const cached = h.chain.verifyCached(basicToken('ann', 'Ann-Passw0rd1'));
        assert.ok(typeof cached === 'object' && cached.ok && cached.cached, 'the synchronous hot path answers once the user is cached');
        assert.equal(h.hasher.verifications, 0);
      });

      test('a Basic credential is cached under the header value it came in, and only once verified', async () => {
        const good = basicToken('ann', 'Ann-Passw0rd1');
        assert.equal(reasonOf(await h.chain.verify('ann', 'Ann-Passw0rd1', 'basic', context, good)), 'ok');
        const wrong = basicToken('ann', 'Ann-Passw0rd2');
        assert.equal(reasonOf(await h.chain.verify('ann', 'Ann-Passw0rd2', 'basic', context, wrong)), 'bad_password');
        assert.equal(h.chain.verifyCached(wrong), MISS, 'a refused credential is never answered from the cache');
        const otherCase = basicToken('ANN', 'Ann-Passw0rd1');
        assert.equal(h.chain.verifyCached(otherCase), MISS, 'another spelling of a cached credential is verified on its own');
        h.hasher.reset();
        assert.equal(reasonOf(await h.chain.verify('ANN', 'Ann-Passw0rd1', 'basic', context, otherCase)), 'ok');
        assert.equal(h.hasher.verifications, 1);
        assert.ok(typeof h.chain.verifyCached(otherCase) === 'object');
        assert.equal(h.chain.verifyCached(''), MISS);
      });
    });
  }

  test('a directory name waits for the dummy verification even when the bind is refused at once', async () => {
    const h = await harness({ ldap: true });
    try {
      const result = await h.chain.verify('ghost', 'Some-Passw0rd1', 'form', context);
      assert.equal(reasonOf(result), 'unknown_user');
      assert.equal(h.directory.binds, 1);
      assert.equal(h.hasher.dummies, 1);
      h.directory.down = true;
      assert.equal(reasonOf(await h.chain.verify('bob', 'Bob-Ldap-1', 'form', context)), 'directory_unavailable');
      assert.equal(h.hasher.dummies, 2, 'an outage costs the same work too');
    } finally {
      await h.store.close();
    }
  });
});

describe('concurrent guesses never exceed max_failures', () => {
  // Guesses from many addresses, as a distributed guesser sends them: one address alone is held
  // to its share of the login slots before the lockout is even consulted.
  const client = (i: number): RequestContext => ({ ip: `198.51.100.${i + 1}`, user_agent: 'test', request_id: `r${i}` });
  test('30 concurrent wrong passwords and then the right one: at most max_failures are verified, the right one is refused as locked out', async () => {
    const h = await harness({ ldap: false, maxFailures: 5 });
    try {
      const guesses = Array.from({ length: 30 }, (_, i) => `Wrong-guess${i}`);
      guesses.push('Victim-Passw0rd1');
      const results = await Promise.all(guesses.map((p, i) => h.chain.verify('victim', p, 'form', client(i))));
      assert.ok(h.hasher.verifies <= 5, `${h.hasher.verifies} guesses were verified`);
      assert.equal(h.hasher.verifications, 31, 'refused guesses still spend the dummy verification');
      assert.equal(reasonOf(results[30] as PasswordResult), 'locked_out');
      assert.equal(results.filter((r) => r.ok).length, 0);
      assert.equal(results.filter((r) => reasonOf(r) === 'bad_password').length, h.hasher.verifies);
      assert.ok(((await h.store.getLockout('victim')) ?? 0) > h.clock.now, 'the store holds the lockout for other replicas');

      assert.equal(reasonOf(await h.chain.verify('Victim', 'Victim-Passw0rd1', 'form', context)), 'locked_out');
      assert.ok(h.hasher.verifies <= 5);
      h.clock.now += 16 * 60_000;
      assert.equal(reasonOf(await h.chain.verify('victim', 'Victim-Passw0rd1', 'form', context)), 'ok', 'the lockout ends after its duration');
    } finally {
      await h.store.close();
    }
  });

  test('the right password arriving while max_failures guesses are in flight is refused like a locked account', async () => {
    const h = await harness({ ldap: false, maxFailures: 3 });
    try {
      const wrong = Array.from({ length: 3 }, (_, i) => h.chain.verify('victim', `Wrong-guess${i}`, 'form', context));
      const right = await h.chain.verify('victim', 'Victim-Passw0rd1', 'form', context);
      assert.equal(reasonOf(right), 'locked_out');
      assert.deepEqual((await Promise.all(wrong)).map(reasonOf), ['bad_password', 'bad_password', 'bad_password']);
      assert.equal(h.hasher.verifies, 3);
    } finally {
      await h.store.close();
    }
  });

  test('a sequential user is never held back by the in-process budget below the limit, and a success resets it', async () => {
    const h = await harness({ ldap: false, maxFailures: 3 });
    try {
      for (let round = 0; round < 3; round++) {
        assert.equal(reasonOf(await h.chain.verify('victim', 'Wrong-guess', 'form', context)), 'bad_password');
        assert.equal(reasonOf(await h.chain.verify('victim', 'Wrong-guess', 'form', context)), 'bad_password');
        assert.equal(reasonOf(await h.chain.verify('victim', 'Victim-Passw0rd1', 'form', context)), 'ok');
      }
    } finally {
      await h.store.close();
    }
  });

  test('concurrent guesses at a directory name bind at most max_failures times', async () => {
    const h = await harness({ ldap: true, maxFailures: 3 });
    try {
      const guesses = Array.from({ length: 20 }, (_, i) => `Wrong-guess${i}`);
      guesses.push('Carol-Ldap-1');
      const results = await Promise.all(guesses.map((p, i) => h.chain.verify('carol', p, 'basic', client(i), basicToken('carol', p))));
      assert.ok(h.directory.binds <= 3, `${h.directory.binds} binds`);
      assert.equal(reasonOf(results[20] as PasswordResult), 'locked_out');
    } finally {
      await h.store.close();
    }
  });

  test('after a lockout shorter than the window, guesses are evaluated one at a time', async () => {
    const h = await harness({ ldap: false, maxFailures: 3, duration: '1m' });
    try {
      for (let i = 0; i < 3; i++) await h.chain.verify('victim', `Wrong-guess${i}`, 'form', context);
      h.clock.now += 2 * 60_000;
      h.hasher.reset();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => h.chain.verify('victim', `Again-wrong${i}`, 'form', client(i))));
      assert.equal(h.hasher.verifies, 1);
      assert.equal(results.filter((r) => reasonOf(r) === 'bad_password').length, 1);
    } finally {
      await h.store.close();
    }
  });
});

/** A hasher whose verifications wait until released (then it stops holding); counts the calls that reached it. */
class HeldHasher extends CountingHasher {
  entered = 0;
  private holding = true;
  private readonly waiting: Array<() => void> = [];
  private hold(): Promise<void> {
    this.entered++;
    return this.holding ? new Promise((resolve) => this.waiting.push(resolve)) : Promise.resolve();
  }
  release(): void {
    this.holding = false;
    for (const go of this.waiting.splice(0)) go();
  }
  override async verify(password: string, stored: string): Promise<boolean> {
    await this.hold();
    return super.verify(password, stored);
  }
  override async verifyDummy(password: string): Promise<void> {
    await this.hold();
    return super.verifyDummy(password);
  }
}

test('a flood of logins with made-up names is refused at once past the bound, without a hash or a counted guess', async () => {
  const hasher = new HeldHasher();
  const h = await harness({ ldap: false, maxConcurrentLogins: 4, maxFailures: 3, hasher });
  try {
    // Four logins with made-up names take every slot at once (each then waits on its hash).
    const flood = Array.from({ length: 4 }, (_, i) => h.chain.verify(`bogus${i}`, 'x', 'form', context));
    // Past the bound: refused at once, for a real name too, and with the right password.
    for (let i = 0; i < 5; i++) {
      const refused = await h.chain.verify('victim', 'Victim-Passw0rd1', 'form', context);
      assert.deepEqual(refused, { ok: false, reason: 'overloaded', userType: 'local', status: 503 });
    }
    assert.ok(hasher.entered <= 4, `only the four admitted logins reach the hasher (${hasher.entered})`);
    hasher.release();
    assert.deepEqual((await Promise.all(flood)).map(reasonOf), ['unknown_user', 'unknown_user', 'unknown_user', 'unknown_user']);
    assert.equal(hasher.entered, 4);
    // The five refusals were no guesses: victim (max_failures 3) logs in now.
    assert.equal(reasonOf(await h.chain.verify('victim', 'Victim-Passw0rd1', 'form', context)), 'ok');
    // Every login path answers such a refusal with this error (the directory's own stays as it was).
    const overloaded = loginUnavailable('overloaded');
    assert.deepEqual([overloaded.code, overloaded.status, overloaded.headers], ['logins_overloaded', 503, { 'retry-after': '1' }]);
    assert.equal(loginUnavailable('directory_unavailable').code, 'directory_unavailable');
  } finally {
    await h.store.close();
  }
});

describe('one client address holds at most its share of the login slots', () => {
  const from = (ip: string): RequestContext => ({ ip, user_agent: 'test', request_id: 'r' });

  test('a client past its share is refused at once without a hash, while another client still logs in', async () => {
    const hasher = new HeldHasher();
    // The process bound (32) is far away: only the share can refuse here.
    const recorded: string[] = [];
    const h = await harness({ ldap: false, maxFailures: 3, hasher, chain: { recordLogin: (_result, _type, reason) => recorded.push(reason) } });
    const { chain } = h;
    try {
      const flood = Array.from({ length: MAX_CONCURRENT_LOGINS_PER_CLIENT }, (_, i) => chain.verify(`bogus${i}`, 'x', 'form', from('203.0.113.7')));
      for (let i = 0; i < 5; i++) {
        const refused = await chain.verify('victim', 'Victim-Passw0rd1', 'form', from('203.0.113.7'));
        assert.deepEqual(refused, { ok: false, reason: 'overloaded', userType: 'local', status: 503 });
      }
      assert.ok(hasher.entered <= MAX_CONCURRENT_LOGINS_PER_CLIENT, `only the admitted logins reach the hasher (${hasher.entered})`);
      assert.deepEqual(recorded, ['overloaded', 'overloaded', 'overloaded', 'overloaded', 'overloaded']);
      // Another address is admitted while the first one still holds its share.
      const other = chain.verify('victim', 'Victim-Passw0rd1', 'form', from('198.51.100.9'));
      hasher.release();
      assert.equal(reasonOf(await other), 'ok');
      assert.deepEqual(
        (await Promise.all(flood)).map(reasonOf),
        Array.from({ length: MAX_CONCURRENT_LOGINS_PER_CLIENT }, () => 'unknown_user'),
      );
      // The share comes back as the logins end, and no address is remembered once it holds none.
      assert.equal(chain.clientsWithLoginsInProgress, 0);
      assert.equal(reasonOf(await chain.verify('victim', 'Victim-Passw0rd1', 'form', from('203.0.113.7'))), 'ok');
      assert.equal(chain.clientsWithLoginsInProgress, 0);
      assert.equal(hasher.entered, MAX_CONCURRENT_LOGINS_PER_CLIENT + 2, 'the flood, the other client and the last login: nothing else was hashed');
    } finally {
      await h.store.close();
    }
  });

  test('the addresses of one IPv6 /64 share one client share', async () => {
    const hasher = new HeldHasher();
    const h = await harness({ ldap: false, hasher, chain: { maxConcurrentLoginsPerClient: 2 } });
    const { chain } = h;
    try {
      const flood = [chain.verify('bogus1', 'x', 'form', from('2001:db8:1:2::1')), chain.verify('bogus2', 'x', 'form', from('2001:db8:1:2:ffff:ffff:ffff:fffe'))];
      assert.equal(reasonOf(await chain.verify('bogus3', 'x', 'form', from('2001:0db8:0001:0002:0:0:0:9'))), 'overloaded');
      const neighbour = chain.verify('bogus4', 'x', 'form', from('2001:db8:1:3::1'));
      hasher.release();
      assert.deepEqual((await Promise.all([...flood, neighbour])).map(reasonOf), ['unknown_user', 'unknown_user', 'unknown_user']);
      assert.equal(chain.clientsWithLoginsInProgress, 0);
    } finally {
      await h.store.close();
    }
  });

  test('share keys: IPv4 as it is, IPv6 by its /64 whatever its spelling', () => {
    assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
    assert.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(clientKey('::FFFF:198.51.100.9'), '198.51.100.9');
    assert.equal(clientKey(''), '');
  });
});
