import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestHost } from '../../../src/http/host.js';

test('the host of a request is its Host in normal form, forwarded with the port it named', () => {
  assert.deepEqual(requestHost({ host: 'WWW.Example.org.' }, false), { name: 'www.example.org', authority: 'www.example.org' });
  assert.deepEqual(requestHost({ host: 'www.example.org.:8443' }, false), { name: 'www.example.org', authority: 'www.example.org:8443' });
  assert.deepEqual(requestHost({ host: '[0:0:0:0:0:0:0:1]:8080' }, false), { name: '[::1]', authority: '[::1]:8080' });
  assert.deepEqual(requestHost({ host: '[::1]' }, false), { name: '[::1]', authority: '[::1]' });
  assert.deepEqual(requestHost({}, false), { name: '', authority: undefined });
  assert.equal(requestHost({ host: 'a..b' }, false), undefined);
});

test("only a trusted proxy's X-Forwarded-Host names the host, by its last value (the nearest proxy's)", () => {
  const headers = { host: 'gateway.internal', 'x-forwarded-host': 'www.example.org, Admin.Example.org:443' };
  assert.deepEqual(requestHost(headers, true), { name: 'admin.example.org', authority: 'admin.example.org:443' });
  assert.deepEqual(requestHost(headers, false), { name: 'gateway.internal', authority: 'gateway.internal' });
  assert.deepEqual(requestHost({ host: 'gateway.internal' }, true), { name: 'gateway.internal', authority: 'gateway.internal' });
});

test("a trusted proxy's X-Forwarded-Host that names no host is refused, not read as host-less", () => {
  for (const forwarded of ['', ' ', 'www.example.org, ', 'a..b', 'admin.example.org:http']) {
    assert.equal(requestHost({ host: 'gateway.internal', 'x-forwarded-host': forwarded }, true), undefined, JSON.stringify(forwarded));
  }
});
