import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredHost, hostOf } from '../../../src/http/host.js';

test('a Host header is compared lower-case, without port or trailing dot, IPv6 canonical', () => {
  assert.equal(hostOf(undefined), '');
  assert.equal(hostOf(''), '');
  assert.equal(hostOf('Admin.Example.org'), 'admin.example.org');
  assert.equal(hostOf('admin.example.org.'), 'admin.example.org');
  assert.equal(hostOf(' ADMIN.example.org.:80 '), 'admin.example.org');
  assert.equal(hostOf('127.0.0.1:8080'), '127.0.0.1');
  assert.equal(hostOf('internal_host'), 'internal_host');
  assert.equal(hostOf('[0:0::1]:8080'), '[::1]');
  assert.equal(hostOf('[::1]'), '[::1]');
  assert.equal(configuredHost('Admin.Example.org.'), 'admin.example.org');
});

test('a Host that is no host name is malformed, not host-less', () => {
  for (const bad of ['admin.example.org..', '.admin.example.org', 'a..b', 'evil@admin.example.org', 'a b', 'host:', 'host:abc', 'host:80:80', 'admin.example.org%2e', '[::1', '[zz]', '[::1]x', '.']) {
    assert.equal(hostOf(bad), undefined, bad);
  }
});
