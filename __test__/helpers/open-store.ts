import { NativeMessageStore, type MessageStoreConfig } from '../../ts/store/native-message-store.js'
import type { Logger } from '../../ts/common/logger.js'

/** Small files and indexes so tests roll segments and stay fast. */
export function smallStoreConfig(dir: string, overrides: Partial<MessageStoreConfig> = {}): MessageStoreConfig {
  return {
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 64 * 1024,
    mappedFileSizeConsumeQueue: 200 * 20,
    maxHashSlotNum: 1000,
    maxIndexNum: 4000,
    flushIntervalCommitLog: 50,
    commitLogPretouchAheadBytes: 16 * 1024,
    ...overrides,
  }
}

export interface LogLine {
  level: string
  obj: object
  msg: string | undefined
}

/** A logger that keeps every line, for assertions on what the store reported. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const make = (): Logger & { lines: LogLine[] } => ({
    lines,
    debug: (obj, msg) => void lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj, msg }),
    child: () => make(),
  })
  return make()
}

export async function openStore(config: MessageStoreConfig, logger?: Logger): Promise<NativeMessageStore> {
  return NativeMessageStore.open(config, logger ? { logger } : {})
}
