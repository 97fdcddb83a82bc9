/**
 * Errors thrown by ferrymq. Each has a stable `code` (`RMQ_ERR_*`) and keeps its `cause`.
 * One class per family, not per code (STYLE.md §7).
 */
export class RocketMQError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Connecting, timing out, a frame too large: the transport failed. */
export class RemotingError extends RocketMQError {}

/** A malformed frame or header: the byte stream can no longer be trusted. */
export class ProtocolError extends RocketMQError {}

/** The store failed in a way a single request cannot fix (I/O, locked directory, inconsistent files). */
export class StoreError extends RocketMQError {
  /** The native addon's code (`FERRYMQ_IO`, …), when the error came from there. */
  readonly nativeCode: string | undefined

  constructor(code: string, message: string, options?: { cause?: unknown; nativeCode?: string }) {
    super(code, message, options)
    this.nativeCode = options?.nativeCode
  }
}

/** Invalid configuration, found at start. */
export class ConfigError extends RocketMQError {}

/** A broker answered with a non-success response code. */
export class BrokerResponseError extends RocketMQError {
  readonly responseCode: number
  readonly remark: string | null
  readonly retriable: boolean

  constructor(responseCode: number, remark: string | null, retriable: boolean, options?: { cause?: unknown }) {
    super('RMQ_ERR_BROKER_RESPONSE', `broker answered ${responseCode}: ${remark ?? ''}`, options)
    this.responseCode = responseCode
    this.remark = remark
    this.retriable = retriable
  }
}

/** A request refused because of what it asked for (a bad name, a value out of range); the admin API answers 400. */
export class InvalidArgumentError extends RocketMQError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RMQ_ERR_INVALID_ARGUMENT', message, options)
  }
}
