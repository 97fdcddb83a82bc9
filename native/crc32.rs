//! CRC32 as RocketMQ stores it: IEEE polynomial (zlib, `java.util.zip.CRC32`) with the sign bit cleared
//! (`UtilAll.crc32`: `crc & 0x7FFFFFFF`). crc32fast picks the SIMD (PCLMULQDQ) path at run time.

/// The masked CRC32 of `bytes`, as written into BODYCRC.
pub fn crc32_masked(bytes: &[u8]) -> u32 {
  crc32fast::hash(bytes) & 0x7FFF_FFFF
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn matches_known_vectors_with_mask() {
    // crc32("123456789") = 0xCBF43926, whose sign bit is set, so the mask matters.
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32_masked(b"123456789"), 0x4BF4_3926);
    assert_eq!(crc32_masked(b""), 0);
  }
}
