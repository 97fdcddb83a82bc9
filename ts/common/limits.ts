/** Bounds on everything (STYLE.md §10). Names end in their unit. */

/** Largest message body the store accepts by default (`maxMessageSize`, 4 MiB). */
export const MESSAGE_BODY_BYTES_MAX_DEFAULT = 4 * 1024 * 1024
/** A record may exceed the body limit by this much for headers, topic and properties. */
export const RECORD_OVERHEAD_BYTES_MAX = 64 * 1024
/** The properties length field is a Java short. */
export const PROPERTIES_BYTES_MAX = 32767
/** Queue ids above this are refused before they become directory names. */
export const QUEUE_ID_MAX = 65535
/** Store job slabs: records of one event-loop turn are encoded into one of these. */
export const STORE_SLAB_BYTES = 4 * 1024 * 1024
/**
 * A store job is handed to the writer as soon as it reaches this size instead of at the end of the turn, so the
 * writer works on the first part of a busy turn while the rest is encoded (32 KiB measured best: scripts/bench).
 */
export const STORE_JOB_BYTES_MAX = 32 * 1024
/** Pull results are capped at this many bytes (the store's fixed cap in RocketMQ). */
export const GET_MESSAGE_BYTES_MAX = 128 * 1024 * 1024
