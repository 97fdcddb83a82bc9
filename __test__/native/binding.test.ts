import { describe, expect, it } from 'vitest'

import { loadBinding, NATIVE_EXPORTS, platformTriple } from '../../ts/native/binding.js'

describe('native binding', () => {
  it('exports exactly the functions binding.ts declares, with the declared arity', () => {
    const addon = loadBinding() as unknown as Record<string, unknown> & { __arity: Record<string, number> }
    for (const [name, arity] of Object.entries(NATIVE_EXPORTS)) {
      expect(typeof addon[name], name).toBe('function')
      expect(addon.__arity[name], name).toBe(arity)
    }
    expect(Object.keys(addon.__arity).sort()).toEqual(Object.keys(NATIVE_EXPORTS).sort())
  })

  it('refuses calls with too few arguments or the wrong handle, with a stable code', () => {
    const addon = loadBinding() as unknown as Record<string, (...args: unknown[]) => unknown>
    expect(() => addon.stats!()).toThrow(expect.objectContaining({ code: 'FERRYMQ_INVALID_ARG' }))
    expect(() => addon.stats!({})).toThrow(/handle returned by this addon/)
    expect(() => addon.crc32!('not a buffer')).toThrow(expect.objectContaining({ code: 'FERRYMQ_INVALID_ARG' }))
  })

  it('names the platform it loaded for', () => {
    expect(platformTriple()).toMatch(/^(linux|darwin|win32)-/)
  })
})
