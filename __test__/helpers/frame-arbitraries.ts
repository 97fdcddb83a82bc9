/** The frame arbitraries live with the torture harness, which throws them at brokers in child processes. */
export * from '../../scripts/torture/frame-arbitraries.js'
