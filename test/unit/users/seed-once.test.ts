import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../../../src/events/bus.js';
import type { PortcullisEvent } from '../../../src/events/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { openStore } from '../../../src/store/open.js';
import { PasswordHasher } from '../../../src/users/password-hash.js';
import { seedUsers } from '../../../src/users/seed.js';

test('seeding applies each entry once, emits UserCreated with actor seed, and never brings a deleted user back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-seed-once-'));
  const file = join(dir, 'passwords.txt');
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    const logger = createLogger({ write: () => undefined });
    const events = new EventBus({ logger });
    const seen: PortcullisEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const options = { file, store, hasher: new PasswordHasher(10), logger, events, now: () => 1_000 };
    writeFileSync(file, 'ops:admin=Seed-Passw0rd1\nreader:ro=Reader-Passw0rd1\n');
    assert.deepEqual(await seedUsers(options), { created: ['ops', 'reader'], skipped: [] });
    assert.deepEqual(
      seen.map((e) => [e.event, e.username, e.actor, e.roles]),
      [
        ['UserCreated', 'ops', 'seed', ['admin']],
        ['UserCreated', 'reader', 'seed', ['readonly']],
      ],
    );
    assert.ok(!JSON.stringify(seen).includes('Passw0rd'), 'no password in any event');
    assert.equal(await store.deleteUser('ops'), true);
    assert.deepEqual(await seedUsers(options), { created: [], skipped: ['ops', 'reader'] });
    assert.equal(await store.getUser('ops'), undefined);
    assert.equal(seen.length, 2, 'nothing created, no event');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
