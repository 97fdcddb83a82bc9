//! Java semantics the store must reproduce bit for bit (store.md §14).

/// Continues Java's `String.hashCode` over the UTF-16 code units of `bytes` decoded as UTF-8
/// (`h = 31*h + c`, wrapping). Invalid UTF-8 decodes to U+FFFD, as `new String(bytes, UTF_8)` does.
pub fn java_hash_update(mut h: i32, bytes: &[u8]) -> i32 {
  if bytes.is_ascii() {
    // Four characters per step (h·31⁴ + c0·31³ + c1·31² + c2·31 + c3): the same value with a quarter of the
    // multiply chain.
    let mut chunks = bytes.chunks_exact(4);
    for c in &mut chunks {
      h = h
        .wrapping_mul(923_521)
        .wrapping_add((c[0] as i32).wrapping_mul(29_791))
        .wrapping_add((c[1] as i32).wrapping_mul(961))
        .wrapping_add((c[2] as i32).wrapping_mul(31))
        .wrapping_add(c[3] as i32);
    }
    for &b in chunks.remainder() {
      h = h.wrapping_mul(31).wrapping_add(b as i32);
    }
    return h;
  }
  for unit in String::from_utf8_lossy(bytes).encode_utf16() {
    h = h.wrapping_mul(31).wrapping_add(unit as i32);
  }
  h
}

/// Java's `String.hashCode` of `bytes` decoded as UTF-8.
pub fn java_string_hash(bytes: &[u8]) -> i32 {
  java_hash_update(0, bytes)
}

/// The index key hash: `Math.abs(hashCode)`, with `Integer.MIN_VALUE` (whose abs is itself) mapped to 0
/// (`IndexFile#indexKeyHashMethod`).
pub fn index_key_hash(h: i32) -> i32 {
  let abs = h.wrapping_abs();
  if abs < 0 {
    0
  } else {
    abs
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn matches_java_string_hash_code() {
    // Values computed with java.lang.String#hashCode.
    assert_eq!(java_string_hash(b""), 0);
    assert_eq!(java_string_hash(b"TagA"), 2_598_919);
    assert_eq!(java_string_hash(b"hello"), 99_162_322);
    assert_eq!(java_string_hash(b"polygenelubricants"), i32::MIN);
    // Non-ASCII: "é" is one UTF-16 unit 0xE9; "😀" is the surrogate pair D83D DE00.
    assert_eq!(java_string_hash("é".as_bytes()), 0xE9);
    assert_eq!(java_string_hash("😀".as_bytes()), 0xD83D * 31 + 0xDE00);
  }

  #[test]
  fn the_unrolled_ascii_path_matches_the_plain_definition() {
    let plain = |s: &[u8]| s.iter().fold(0i32, |h, &b| h.wrapping_mul(31).wrapping_add(b as i32));
    for len in 0..40 {
      let s: Vec<u8> = (0..len).map(|i| b'!' + (i * 7 % 90) as u8).collect();
      assert_eq!(java_string_hash(&s), plain(&s), "length {len}");
    }
  }

  #[test]
  fn update_composes_like_concatenation() {
    let whole = java_string_hash(b"TopicTest#key-1");
    let parts = java_hash_update(java_hash_update(java_string_hash(b"TopicTest"), b"#"), b"key-1");
    assert_eq!(whole, parts);
  }

  #[test]
  fn index_hash_maps_min_to_zero() {
    assert_eq!(index_key_hash(i32::MIN), 0);
    assert_eq!(index_key_hash(-5), 5);
    assert_eq!(index_key_hash(7), 7);
  }
}
