// The ceiling: bare http-proxy with the same keep-alive agent settings as Portcullis' forwarder.
//
// `node bench/bare-proxy.mjs <upstream> [--load-gateway | --start-gateway <config>]`: the extra
// arguments run the same bare proxy inside a process that has also imported the built gateway's
// modules, or started a gateway from <config> (left idle), to measure what the gateway's process
// alone costs code that does not change (measured 2026-11-28: see commit fc5715f).
import { createServer, Agent } from 'node:http';
import httpProxy from 'http-proxy';

const [target, mode, configFile] = process.argv.slice(2);
if (mode === '--load-gateway' || mode === '--start-gateway') {
  const { loadGatewayConfig } = await import('../dist/app/check.js');
  const { startServer } = await import('../dist/app/server.js');
  const { createLogger } = await import('../dist/observability/logger.js');
  if (mode === '--start-gateway') {
    const config = loadGatewayConfig({ file: configFile, env: process.env });
    await startServer(config, { logger: createLogger({ level: 'warn', write: (line) => process.stderr.write(line) }), announce: () => undefined });
  }
}
const agent = new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: false });
proxy.on('error', (_err, _req, res) => {
  res.writeHead?.(502);
  res.end?.();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
