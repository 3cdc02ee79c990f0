import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieName, removeCookies } from '../../../src/http/cookies.js';

test('the name of a cookie is the text before its first =, trimmed', () => {
  assert.equal(cookieName('sid=abc=def; Path=/; HttpOnly'), 'sid');
  assert.equal(cookieName(' sid =abc'), 'sid');
  assert.equal(cookieName('flag'), 'flag');
  assert.equal(cookieName('=value'), '');
});

test('removing cookies keeps the others byte for byte', () => {
  assert.equal(removeCookies('a=1; sid=x;  b=2=3 ;sid', ['sid']), 'a=1; b=2=3');
  assert.equal(removeCookies('sid=x', ['sid']), '');
  assert.equal(removeCookies(' sid=x ; handoff=y;c=3;', ['sid', 'handoff']), 'c=3');
  assert.equal(removeCookies('sidecar=1; sid =x; xsid=2', ['sid']), 'sidecar=1; xsid=2', 'only a cookie of that exact name goes');
  assert.equal(removeCookies(';;', ['sid']), '');
  assert.equal(removeCookies('', ['sid']), '');
});

test('removing several cookies at once matches removing them one by one', () => {
  // The single pass against the split-filter-join it replaced, over random headers.
  const oneByOne = (header: string, names: string[]): string => {
    let kept = header;
    for (const name of names) {
      if (!kept.includes(name)) continue;
      kept = kept
        .split(';')
        .filter((part) => cookieName(part) !== name)
        .map((part) => part.trim())
        .filter((part) => part !== '')
        .join('; ');
    }
    return kept;
  };
  const pieces = ['sid=x', 'sid', ' sid = y ', 'h=1', 'a=1', 'b=2=3', '', ' ', 'sidx=4', 'x sid=5', '=v'];
  for (let round = 0; round < 2000; round++) {
    const header = Array.from({ length: 1 + (round % 6) }, (_, i) => pieces[(round * 7 + i * 13 + (round >> 3)) % pieces.length]).join(round % 3 === 0 ? ';' : '; ');
    if (!header.includes('sid') && !header.includes('h')) continue;
    assert.equal(removeCookies(header, ['sid', 'h']), oneByOne(header, ['sid', 'h']), JSON.stringify(header));
  }
});
