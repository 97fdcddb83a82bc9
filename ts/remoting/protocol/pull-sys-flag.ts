/** `PULL_MESSAGE` flag bits (`PullSysFlag`, protocol.md §2.5). */
export const PullSysFlag = {
  COMMIT_OFFSET: 0x1,
  SUSPEND: 0x2,
  SUBSCRIPTION: 0x4,
  CLASS_FILTER: 0x8,
  LITE_PULL: 0x10,
} as const

export function buildPullSysFlag(commitOffset: boolean, suspend: boolean, subscription: boolean, classFilter = false): number {
  return (
    (commitOffset ? PullSysFlag.COMMIT_OFFSET : 0) |
    (suspend ? PullSysFlag.SUSPEND : 0) |
    (subscription ? PullSysFlag.SUBSCRIPTION : 0) |
    (classFilter ? PullSysFlag.CLASS_FILTER : 0)
  )
}
