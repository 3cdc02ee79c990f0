import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStoreUrl } from '../../../src/cli/migrate.js';

test('portcullis migrate names the store without its password, wherever the URL carries it', () => {
  assert.equal(describeStoreUrl('postgres://portcullis:p%40ss-w0rd@db.example:5432/gate'), 'postgres://db.example:5432/gate', 'an encoded @ in the password');
  assert.equal(describeStoreUrl('postgres://portcullis:p@ss-w0rd@db.example/gate'), 'postgres://db.example/gate', 'a raw @ in the password');
  assert.equal(describeStoreUrl('postgresql://db.example/gate?user=portcullis&password=S3cretQuery&sslmode=require'), 'postgresql://db.example/gate', 'a password in the query');
  assert.equal(describeStoreUrl('sqlite:/var/lib/portcullis/portcullis.db'), 'sqlite:/var/lib/portcullis/portcullis.db');
  for (const url of ['postgres://u:p@ss-w0rd@db.example/gate', 'postgresql://db.example/gate?password=S3cretQuery']) {
    assert.ok(!/ss-w0rd|S3cret/.test(describeStoreUrl(url)), url);
  }
});
