import { describe, expect, it } from 'vitest'

import { cargoSourceArgs, ensureDebianCrates, type DebianSystem } from '../../../scripts/native-build.js'

function system(over: Partial<DebianSystem> & { missing?: string[] }): DebianSystem & { installed: string[][] } {
  let missing = over.missing ?? []
  const installed: string[][] = []
  return {
    installed,
    isRoot: over.isRoot ?? true,
    isDebian: over.isDebian ?? true,
    hasApt: over.hasApt ?? true,
    missingCrates: () => missing,
    aptInstall: (packages) => {
      installed.push(packages)
      missing = []
      return { status: 0, output: '' }
    },
  }
}

describe('native build: crate sources', () => {
  it('builds the ordinary way from crates.io and offline from the Debian directory source', () => {
    expect(cargoSourceArgs('crates-io')).toEqual([])
    const debian = cargoSourceArgs('debian')
    expect(debian).toContain('--offline')
    expect(debian.join(' ')).toContain('source.debian-packaged.directory="/usr/share/cargo/registry"')
  })

  it('installs only the missing Debian crates with apt when root on Debian', () => {
    const s = system({ missing: ['memmap2', 'libc'] })
    ensureDebianCrates(() => {}, s)
    expect(s.installed).toEqual([['librust-memmap2-dev', 'librust-libc-dev']])
  })

  it('does nothing when the crates are there', () => {
    const s = system({ missing: [] })
    ensureDebianCrates(() => {}, s)
    expect(s.installed).toEqual([])
  })

  it('otherwise stops with the exact packages to install', () => {
    for (const s of [system({ missing: ['crc32fast'], isRoot: false }), system({ missing: ['crc32fast'], isDebian: false })]) {
      expect(() => ensureDebianCrates(() => {}, s)).toThrow(
        expect.objectContaining({
          code: 'RMQ_ERR_NATIVE_BUILD',
          message: expect.stringContaining('sudo apt-get install librust-crc32fast-dev'),
        }),
      )
      expect(s.installed).toEqual([])
    }
  })

  it('reports an apt failure with its output', () => {
    const s = { ...system({ missing: ['libc'] }), aptInstall: () => ({ status: 100, output: 'E: Unable to locate package' }) }
    expect(() => ensureDebianCrates(() => {}, s)).toThrow(/Unable to locate package/)
  })
})
