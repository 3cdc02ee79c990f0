/** The body source every route's proxy pipes upstream (src/proxy/request-body.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { REQUEST_BODY } from '../../../src/proxy/request-body.js';

function sink(): Writable & { data: string } {
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.data += chunk.toString();
      done();
    },
  }) as Writable & { data: string };
  out.data = '';
  return out;
}

test('fails closed: piped outside the forwarder it destroys the upstream request and throws', () => {
  const upstream = sink();
  assert.throws(() => REQUEST_BODY.pipe(upstream), /outside the forwarder/);
  assert.equal(upstream.destroyed, true);
});

test('a request with a body is piped; one without is ended without reading it', async () => {
  const withBody = new PassThrough();
  const piped = sink();
  REQUEST_BODY.around(withBody as unknown as IncomingMessage, true, () => REQUEST_BODY.pipe(piped));
  withBody.end('hello');
  await new Promise((resolve) => piped.on('finish', resolve));
  assert.equal(piped.data, 'hello');

  const without = new PassThrough();
  without.write('not a body');
  const ended = sink();
  REQUEST_BODY.around(without as unknown as IncomingMessage, false, () => REQUEST_BODY.pipe(ended));
  await new Promise((resolve) => ended.on('finish', resolve));
  assert.equal(ended.data, '');
  assert.equal(without.readableFlowing, null, 'the request was not read');
});

test('the request is the body source only while the forwarder runs, also when it throws', () => {
  assert.throws(
    () =>
      REQUEST_BODY.around(new PassThrough() as unknown as IncomingMessage, true, () => {
        throw new Error('proxy failed');
      }),
    /proxy failed/,
  );
  const late = sink();
  assert.throws(() => REQUEST_BODY.pipe(late), /outside the forwarder/);
  // A second pipe within one forwarding has no request either: each request is piped once.
  const first = sink();
  const second = sink();
  REQUEST_BODY.around(new PassThrough() as unknown as IncomingMessage, false, () => {
    REQUEST_BODY.pipe(first);
    assert.throws(() => REQUEST_BODY.pipe(second), /outside the forwarder/);
  });
  assert.equal(second.destroyed, true);
});
