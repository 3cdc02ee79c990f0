import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configuredHost, configuredHostProblem, hostOf } from '../../../src/http/host.js';

test('a configured host takes the form hostOf gives the Host header, IPv6 literals canonical', () => {
  for (const [entry, header] of [
    ['Admin.Example.org.', 'admin.example.org:80'],
    ['[0:0:0:0:0:0:0:1]', '[0:0:0:0:0:0:0:1]'],
    ['[0:0:0:0:0:0:0:1]', '[::1]:8443'],
    ['[2001:DB8::0:1]', '[2001:db8:0::1]'],
  ] as const) {
    assert.equal(configuredHostProblem(entry), undefined, entry);
    assert.equal(configuredHost(entry), hostOf(header), `${entry} ~ ${header}`);
  }
  assert.equal(configuredHost('[0:0:0:0:0:0:0:1]'), '[::1]');
  assert.equal(configuredHost(''), '');
});

test('a configured host with a port is refused with the entry that works', () => {
  assert.equal(
    configuredHostProblem('admin.example.org:8443'),
    'Host headers are compared without their port, so admin.example.org:8443 never matches; write admin.example.org (it matches every port)',
  );
  assert.equal(configuredHostProblem('[0:0::1]:8443'), 'Host headers are compared without their port, so [0:0::1]:8443 never matches; write [::1] (it matches every port)');
  assert.equal(
    configuredHostProblem('*.Example.org:443', { wildcard: true }),
    'Host headers are compared without their port, so *.Example.org:443 never matches; write *.example.org (it matches every port)',
  );
});

test('a configured host that no Host header can equal is refused', () => {
  assert.equal(configuredHostProblem('::1'), 'write an IPv6 address in brackets: [::1]');
  assert.equal(configuredHostProblem('a..b'), 'a..b is not a host name');
  assert.equal(configuredHostProblem('[::1'), '[::1 is not a host name');
  assert.equal(configuredHostProblem('  '), 'must not be empty');
  assert.match(configuredHostProblem('*.example.org') ?? '', /a route's host is matched exactly/);
  assert.equal(configuredHostProblem('*.example.org', { wildcard: true }), undefined);
  assert.match(configuredHostProblem('*.[::1]', { wildcard: true }) ?? '', /not part of an IP address/);
  assert.match(configuredHostProblem('*.10.0.0.1', { wildcard: true }) ?? '', /not part of an IP address/);
});
