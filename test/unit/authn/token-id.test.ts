import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newTokenId } from '../../../src/authn/api-tokens.js';

test('token ids are 16 base64url characters and never begin with "-" (the CLI would read one as options)', () => {
  // Without the rule one id in 64 begins with "-": 5,000 ids all miss it with odds of about 1 in 10^34.
  const ids = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const id = newTokenId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 5000);
});
