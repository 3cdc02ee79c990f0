import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sqliteBinding } from '../../../src/store/sqlite/binding.js';
import { startGateway } from '../../helpers/gateway.js';

test('a flood of failed logins with made-up names leaves no rows behind once the lockout window has passed', async () => {
  const gw = await startGateway({ config: { users: { password_hash_cost: 10, lockout: { max_failures: 5, window: '2s', duration: '2s' } } } });
  const db = new (sqliteBinding().Database)(join(gw.dir, 'portcullis.db'), { readonly: true, fileMustExist: true });
  const rows = (): number => {
    const failures = db.prepare('SELECT COUNT(*) AS n FROM login_failures').get() as { n: number };
    const lockouts = db.prepare('SELECT COUNT(*) AS n FROM lockouts').get() as { n: number };
    return failures.n + lockouts.n;
  };
  try {
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from(`ghost${round}x${i}:Wrong-Passw0rd`).toString('base64') } }).then((res) => assert.equal(res.status, 401)),
        ),
      );
    }
    assert.ok(rows() >= 40, `every guess was recorded (${rows()} rows)`);
    let left = rows();
    for (let waited = 0; waited < 8000 && left > 0; waited += 200) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      left = rows();
    }
    assert.equal(left, 0, 'failures older than the window and ended lockouts are purged');
  } finally {
    db.close();
    await gw.close();
  }
});
