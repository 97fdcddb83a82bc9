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

/** Largest frame, length word included (`NettyDecoder`, `com.rocketmq.remoting.frameMaxLength`: 16 MiB). */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024
/** Smallest frame after the length word: the header word alone. */
export const FRAME_BODY_BYTES_MIN = 4
/** The header length is a 24-bit field of the header word. */
export const HEADER_BYTES_MAX = 0xffffff
/** Ext fields per header: far above what any request carries (the V2 send header has 14). */
export const EXT_FIELDS_MAX = 1024
/** Stop reading a connection's requests while this many response bytes wait to be written to it. */
export const CONNECTION_WRITE_BYTES_HIGH = 16 * 1024 * 1024
/** Requests a client may have waiting for a response on one connection. */
export const CLIENT_PENDING_REQUESTS_MAX = 65536
/** Messages in one batch send: the batch body is capped by `maxMessageSize` anyway; this bounds the count. */
export const BATCH_MESSAGES_MAX = 100_000
