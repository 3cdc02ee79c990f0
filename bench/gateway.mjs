// Starts the built gateway in its own process (so /proc measures only it) and prints its url.
import { loadGatewayConfig } from '../dist/app/check.js';
import { startServer } from '../dist/app/server.js';
import { createLogger } from '../dist/observability/logger.js';

const config = loadGatewayConfig({ file: process.argv[2], env: process.env });
const running = await startServer(config, { logger: createLogger({ level: 'warn', write: (line) => process.stderr.write(line) }), announce: () => undefined });
process.stdout.write(JSON.stringify({ url: running.url, pid: process.pid }) + '\n');
process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
