/**
 * The Node (V8) options the gateway runs with: `npm start` and the Docker image's entrypoint pass
 * them, and the benchmarks start the gateway and bare http-proxy alike with them. V8 takes them
 * only on the command line: NODE_OPTIONS refuses them, and set through `v8.setFlagsFromString`
 * once the process runs they measured no effect. The `portcullis` command's `#!` line cannot
 * carry them everywhere (`env -S` is missing from BusyBox, so Alpine could not start the command
 * at all), so `serve` started without them says so in a warning (missingNodeFlags).
 *
 * Both keep V8's memory reducer from reshaping a gateway that pauses. The reducer runs after a few
 * seconds without load and its full collections shrink the heap and compact the code space; after
 * such a pause the gateway spent about 10–20 % more CPU per request than a fresh one, for as long as
 * it was measured (minutes of steady load), while bare http-proxy did not.
 *
 * `--no-compact-code-space`: the compiled code of the request path stays where it is. Side by
 * side with bare http-proxy after 40 s idle: the API token 1.15–1.29× without it, 1.06–1.11× with
 * it, 1.08–1.11× with no pause.
 *
 * `--no-memory-reducer`: no reducing collections at all. A gateway that had served other traffic
 * with pauses between (the full bench) still read about 0.1 higher than a fresh one with the first
 * option alone; with both, the full bench's credential kinds read 1.07–1.12× where the first option
 * alone read 1.18–1.27× on the same machine 20 minutes apart (runs of 2026-11-29, 07:00–08:41,
 * in commit e44bc93).
 *
 * What they cost: a gateway at rest keeps the heap of its last load instead of handing it back to
 * the system; after a peak of 256 connections RSS stayed at 211–226 MiB where it otherwise fell to
 * 93–95 MiB within a minute. The peak itself is the same (V8 still collects under load, and every
 * cache is bounded), so size memory limits by the peak either way. To trade CPU for memory at rest,
 * start `node --no-compact-code-space dist/cli.js serve` instead (it then warns of the missing one).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--no-compact-code-space', '--no-memory-reducer'];

/** The gateway's Node options that this process was not started with (empty when all are there). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return GATEWAY_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
