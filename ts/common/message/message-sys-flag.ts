/** SYSFLAG bits of a stored message (`MessageSysFlag`, store.md §1.3). */
export const MessageSysFlag = {
  COMPRESSED_FLAG: 0x1,
  MULTI_TAGS_FLAG: 0x2,
  TRANSACTION_NOT_TYPE: 0x0,
  TRANSACTION_PREPARED_TYPE: 0x4,
  TRANSACTION_COMMIT_TYPE: 0x8,
  TRANSACTION_ROLLBACK_TYPE: 0xc,
  BORNHOST_V6_FLAG: 0x10,
  STOREHOSTADDRESS_V6_FLAG: 0x20,
  NEED_UNWRAP_FLAG: 0x40,
  INNER_BATCH_FLAG: 0x80,
  /** Compression type field, `value << 8`: 1 LZ4, 2 ZSTD, 3 ZLIB; 0 with COMPRESSED set means ZLIB. */
  COMPRESSION_TYPE_MASK: 0x700,
} as const

export function transactionValue(sysFlag: number): number {
  return sysFlag & 0xc
}

/** The flag with its transaction type replaced (`MessageSysFlag#resetTransactionValue`). */
export function resetTransactionValue(sysFlag: number, type: number): number {
  return (sysFlag & ~0xc) | type
}
