/**
 * Implementation language of a command's sender (`LanguageCode`, protocol.md §1.6). JSON headers carry the name,
 * ROCKETMQ binary headers the code. Unknown names and codes read as `OTHER`.
 */
export const LANGUAGE_CODES = [
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
] as const

export type LanguageCode = (typeof LANGUAGE_CODES)[number]

const OTHER_CODE = 7
const BY_NAME = new Map<string, number>(LANGUAGE_CODES.map((name, code) => [name, code]))

export function languageCodeOf(name: string): number {
  return BY_NAME.get(name) ?? OTHER_CODE
}

export function languageNameOf(code: number): LanguageCode {
  return LANGUAGE_CODES[code] ?? 'OTHER'
}

/** A language name from a JSON header: kept when known, else `OTHER`. */
export function normalizeLanguage(name: unknown): LanguageCode {
  return typeof name === 'string' && BY_NAME.has(name) ? (name as LanguageCode) : 'OTHER'
}
