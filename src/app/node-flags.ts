/**
 * The Node (V8) options the gateway runs with: `npm start` and the Docker image's entrypoint
 * pass them, and the benchmarks start the gateway and bare http-proxy alike with them. V8 takes
 * them only on the command line: NODE_OPTIONS refuses them, and set through
 * `v8.setFlagsFromString` once the process runs they measured no effect.
 *
 * `--no-compact-code-space`: V8's memory reducer runs after a few seconds without load, and its
 * full collections compact the code space, moving the compiled code of the request path. After
 * such a pause the gateway spent about 10 % more CPU per request than before it, for as long as it
 * was measured (minutes of steady load). Side by side with bare http-proxy after 40 s idle: the
 * public rule 0.97–1.06× and the API token 1.15–1.29× without the option (seven runs), 0.89–0.92×
 * and 1.06–1.11× with it (two runs); no pause, 0.90–0.95× and 1.08–1.11×. `--no-memory-reducer`
 * did as well; keeping the young generation's size, or the bytecode and baseline code, did not
 * (docs/benchmarks.md, "Runs of 2026-11-29, morning"). What it costs: free space in the code space
 * is reused as it is, never compacted (a few MiB of compiled code in a gateway).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--no-compact-code-space'];
