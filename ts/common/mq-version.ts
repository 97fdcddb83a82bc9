/**
 * RocketMQ version ordinals (`MQVersion.Version`, protocol.md §1.6). For every 4.x and 5.x release `Vx_y_z` the
 * ordinal is `213 + 20 × ((x − 4) × 10 + y) + 2 × z`; each release is preceded by its `_SNAPSHOT` entry.
 */
export const MQVersion = {
  V3_0_11: 37,
  V3_1_8_SNAPSHOT: 62,
  V3_4_9: 121,
  V4_0_0: 213,
  V4_1_0_SNAPSHOT: 232,
  V4_5_2: 317,
  V4_8_0: 373,
  V4_9_4: 401,
  V4_9_8: 409,
  V5_0_0: 413,
} as const

/** The version ferrymq puts in every command it sends: 4.9.8, above every threshold a 4.x client checks. */
export const CURRENT_VERSION = MQVersion.V4_9_8

/** `V4_9_8` for 409: the name of a release ordinal (`MQVersion.getVersionDesc`). */
export function versionDesc(ordinal: number): string {
  if (ordinal < MQVersion.V4_0_0 - 1) return `V${ordinal}`
  const steps = ordinal - MQVersion.V4_0_0
  // An odd step is the snapshot that precedes the next release.
  if (steps % 2 !== 0) return `${versionDesc(ordinal + 1)}_SNAPSHOT`
  const minorIndex = Math.floor(steps / 20)
  const major = 4 + Math.floor(minorIndex / 10)
  return `V${major}_${minorIndex % 10}_${(steps % 20) / 2}`
}
