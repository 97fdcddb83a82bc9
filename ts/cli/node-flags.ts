/**
 * Node options the broker runs with. They go on the `node` command line (the `ferrymq` shebang, `npm start`, the
 * processes benchmarks and the torture harness start): V8 reads them when it creates the heap, and Node refuses
 * them in `NODE_OPTIONS`.
 *
 * `--initial-old-space-size`: the broker's live heap is small (about 8 MiB) while its young generation grows to its
 * full 16 MiB semi-spaces under load, and V8 starts a full collection whenever the old generation's headroom falls
 * below the young generation's capacity. With the headroom sized from an 8 MiB heap that was a full collection
 * every 65 ms at 300k batched messages/s, about an eighth of the main thread; with a 128 MiB starting limit there
 * were none in a 20 s run, and the server's CPU per message fell by a sixth (single sends) to a quarter (batches of
 * 32). The price is up to that much garbage held between full collections.
 */
export const BROKER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128']
