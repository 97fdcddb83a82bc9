import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { loadBrokerConfig } from '../../../ts/broker/broker-config.js'
import { envNameOf, parseProperties } from '../../../ts/common/config-loader.js'
import { ConfigError } from '../../../ts/common/errors.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'

describe('parseProperties', () => {
  it('reads Java properties: separators, comments, continuations and escapes', () => {
    const p = parseProperties(
      [
        '# comment',
        '! also a comment',
        'a=1',
        'b : two',
        'c three',
        '  d=x\\',
        '    y',
        'e=tab\\there',
        'f=\\u0041',
        'empty=',
      ].join('\n'),
    )
    expect(Object.fromEntries(p)).toEqual({ a: '1', b: 'two', c: 'three', d: 'xy', e: 'tab\there', f: 'A', empty: '' })
  })
})

describe('loadBrokerConfig', () => {
  let dir: TempDir
  afterEach(() => dir?.remove())

  it('layers broker.conf, FERRYMQ_* variables and flags over the defaults, flags last', () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    writeFileSync(
      conf,
      'brokerClusterName=ClusterX\nbrokerName=broker-x\nlistenPort=20911\nflushDiskType=SYNC_FLUSH\ndeleteWhen=03\nosPageCacheBusyTimeOutMills=2000\nsomeJavaOnlyKey=1\n',
    )
    const { brokerConfig, storeConfig, unknownKeys } = loadBrokerConfig({
      configFile: conf,
      env: { [envNameOf('listenPort')]: '30911', FERRYMQ_BROKER_IP1: '10.0.0.1' },
      overrides: { listenPort: 40911 },
      defaultStorePath: join(dir.path, 'store'),
    })
    expect(brokerConfig).toMatchObject({
      brokerClusterName: 'ClusterX',
      brokerName: 'broker-x',
      listenPort: 40911,
      brokerIP1: '10.0.0.1',
    })
    expect(brokerConfig.sendThreadPoolQueueCapacity).toBe(10_000)
    expect(brokerConfig.enablePropertyFilter).toBe(false)
    expect(storeConfig).toMatchObject({
      flushDiskType: 'SYNC_FLUSH',
      deleteWhen: '03',
      osPageCacheBusyTimeOutMills: 2000,
    })
    expect(storeConfig.storePathRootDir).toBe(join(dir.path, 'store'))
    expect(unknownKeys).toEqual([`${conf}: someJavaOnlyKey`])
  })

  it('takes enablePropertyFilter (SQL92 filtering) from broker.conf', () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    writeFileSync(conf, 'enablePropertyFilter=true\n')
    const { brokerConfig } = loadBrokerConfig({ configFile: conf, defaultStorePath: join(dir.path, 'store') })
    expect(brokerConfig.enablePropertyFilter).toBe(true)
  })

  it('fails once, naming the key and its source, on a bad value', () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    const bad = (text: string): string => {
      writeFileSync(conf, text)
      try {
        loadBrokerConfig({ configFile: conf, defaultStorePath: dir.path })
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError)
        return (err as Error).message
      }
      throw new Error('no error')
    }
    expect(bad('listenPort=abc\n')).toContain('listenPort="abc": is not a number')
    expect(bad('flushDiskType=SOMETIMES\n')).toContain('must be one of ASYNC_FLUSH, SYNC_FLUSH')
    expect(bad('autoCreateTopicEnable=yes\n')).toContain('must be true or false')
    expect(bad('brokerName=../evil\n')).toContain('brokerName')
    expect(bad('namesrvAddr=localhost\n')).toContain('is not host:port')
    expect(bad('tlsMode=enforcing\n')).toContain('tlsServerCertPath')
    expect(() => loadBrokerConfig({ configFile: join(dir.path, 'missing.conf'), defaultStorePath: dir.path })).toThrow(
      /does not exist/,
    )
  })
})
