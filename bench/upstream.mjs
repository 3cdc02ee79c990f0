// Benchmark upstream: a tiny keep-alive HTTP server that answers with the identity it saw.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const body = JSON.stringify({ user: req.headers['x-auth-user'] ?? null, assertion: Boolean(req.headers['x-auth-assertion']) });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
