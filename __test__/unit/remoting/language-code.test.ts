/** Language codes (protocol.md §1.6). Includes a port of Apache RocketMQ 4.9.8 `LanguageCodeTest`. */
import { describe, expect, it } from 'vitest'

import {
  LANGUAGE_CODES,
  languageCodeOf,
  languageNameOf,
  normalizeLanguage,
} from '../../../ts/remoting/language-code.js'

describe('LanguageCode', () => {
  it('maps RUST to 12 both ways (LanguageCodeTest#testLanguageCodeRust)', () => {
    expect(languageNameOf(12)).toBe('RUST')
    expect(languageCodeOf('RUST')).toBe(12)
  })

  it('numbers the languages as Java does', () => {
    expect(LANGUAGE_CODES).toEqual([
      'JAVA',
      'CPP',
      'DOTNET',
      'PYTHON',
      'DELPHI',
      'ERLANG',
      'RUBY',
      'OTHER',
      'HTTP',
      'GO',
      'PHP',
      'OMS',
      'RUST',
      'NODE_JS',
    ])
    for (const [code, name] of LANGUAGE_CODES.entries()) {
      expect(languageCodeOf(name)).toBe(code)
      expect(languageNameOf(code)).toBe(name)
    }
  })

  it('reads unknown codes and names as OTHER', () => {
    expect(languageNameOf(14)).toBe('OTHER')
    expect(languageNameOf(255)).toBe('OTHER')
    expect(languageCodeOf('COBOL')).toBe(7)
    expect(normalizeLanguage('COBOL')).toBe('OTHER')
    expect(normalizeLanguage('java')).toBe('OTHER')
    expect(normalizeLanguage(3)).toBe('OTHER')
    expect(normalizeLanguage('PYTHON')).toBe('PYTHON')
  })
})
