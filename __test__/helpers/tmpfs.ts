import { spawnSync } from 'node:child_process'

import { tempDir, type TempDir } from './temp-dir.js'

/**
 * A small filesystem for disk-full tests: a size-limited tmpfs mounted on a fresh directory. Needs the right to
 * mount (root, as CI runs); otherwise it throws, saying so, rather than letting a test pass without a full disk.
 */
export function mountTmpfs(sizeBytes: number): TempDir {
  const dir = tempDir('ferrymq-tmpfs-')
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir.path], { encoding: 'utf8' })
  if (r.status !== 0) {
    dir.remove()
    throw new Error(`cannot mount a ${sizeBytes}-byte tmpfs for the disk-full test (needs root): ${r.stderr ?? r.error}`)
  }
  return {
    path: dir.path,
    remove: () => {
      const r = spawnSync('umount', [dir.path], { encoding: 'utf8' })
      // Still busy means something of the test still holds a file there: detach it anyway, then complain.
      if (r.status !== 0) spawnSync('umount', ['-l', dir.path])
      dir.remove()
      if (r.status !== 0) throw new Error(`tmpfs ${dir.path} was still in use at cleanup: ${r.stderr}`)
    },
  }
}
