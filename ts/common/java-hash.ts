/**
 * Java's `String.hashCode`, bit for bit: `h = 31*h + c` over UTF-16 code units, as a signed int32
 * (store.md §14). Used for tag hash codes and index keys.
 */
export function javaStringHash(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) {
    h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  }
  return h
}
