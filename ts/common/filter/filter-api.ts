/**
 * Tag subscriptions (`FilterAPI.build`, protocol.md §4.8): `TagA || TagB` split on `||`, parts trimmed, empty
 * parts dropped; `*` or empty subscribes to everything. The broker matches by tag hash code; the client re-checks
 * the tag string, so hash collisions cost a transfer, never a wrong delivery.
 */
import { javaStringHash } from '../java-hash.js'

export const SUB_ALL = '*'

export interface TagFilter {
  subString: string
  tagsSet: string[]
  codeSet: number[]
  /** True for `*`: every message matches. */
  all: boolean
}

export function buildTagFilter(subString: string | null | undefined): TagFilter {
  const s = subString?.trim() ?? ''
  if (s.length === 0 || s === SUB_ALL) return { subString: SUB_ALL, tagsSet: [], codeSet: [], all: true }
  const tagsSet: string[] = []
  for (const part of s.split('||')) {
    const tag = part.trim()
    if (tag.length > 0 && !tagsSet.includes(tag)) tagsSet.push(tag)
  }
  if (tagsSet.length === 0) return { subString: SUB_ALL, tagsSet: [], codeSet: [], all: true }
  return { subString: s, tagsSet, codeSet: tagsSet.map(javaStringHash), all: false }
}
