/** Permission bits of brokers, topics and queues (`PermName`, protocol.md §2.9.15). */
export const PermName = {
  PERM_PRIORITY: 0x8,
  PERM_READ: 0x4,
  PERM_WRITE: 0x2,
  PERM_INHERIT: 0x1,
} as const

export function isReadable(perm: number): boolean {
  return (perm & PermName.PERM_READ) === PermName.PERM_READ
}

export function isWriteable(perm: number): boolean {
  return (perm & PermName.PERM_WRITE) === PermName.PERM_WRITE
}

export function isInherited(perm: number): boolean {
  return (perm & PermName.PERM_INHERIT) === PermName.PERM_INHERIT
}

/** `RW-`-style text for logs and tables (`PermName.perm2String`). */
export function perm2String(perm: number): string {
  return `${isReadable(perm) ? 'R' : '-'}${isWriteable(perm) ? 'W' : '-'}${isInherited(perm) ? 'X' : '-'}`
}
