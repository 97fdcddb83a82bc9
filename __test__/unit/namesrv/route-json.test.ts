import { describe, expect, it } from 'vitest'

import { MQVersion } from '../../../ts/common/mq-version.js'
import {
  decodeClusterInfo,
  decodeTopicList,
  decodeTopicRouteData,
  encodeClusterInfo,
  encodeTopicList,
  encodeTopicRouteData,
  topicRouteDataToJson,
  type TopicRouteData,
} from '../../../ts/remoting/protocol/route.js'
import { encodeFrameToBuffer } from '../../../ts/remoting/frame-codec.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'

/** The route of protocol.md §1.11.2: broker-a of DefaultCluster, master 192.168.0.10:10911, 4/4 queues, perm 6. */
function goldenRoute(): TopicRouteData {
  return {
    orderTopicConf: null,
    queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }],
    brokerDatas: [
      { cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: new Map([[0, '192.168.0.10:10911']]) },
    ],
    filterServerTable: new Map(),
  }
}

/** protocol.md §1.11.2, the body as a Java 4.9.8 name server writes it for a request at version ≥ 401. */
const GOLDEN_BODY =
  '{"brokerDatas":[{"brokerAddrs":{"0":"192.168.0.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],' +
  '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,' +
  '"writeQueueNums":4}]}'

/** The same body with `topicSynFlag`, which ferrymq writes by default (protocol.md §7.4). */
const GOLDEN_BODY_WITH_SYN_FLAG = GOLDEN_BODY.replace('"topicSysFlag":0', '"topicSynFlag":0,"topicSysFlag":0')

/** protocol.md §1.11.2, the whole response frame (341 bytes), transcribed from the hex dump. */
const GOLDEN_RESPONSE_FRAME_HEX = [
  '00000151 0000005f 7b22636f 6465223a',
  '302c2266 6c616722 3a312c22 6c616e67',
  '75616765 223a224a 41564122 2c226f70',
  '61717565 223a312c 22736572 69616c69',
  '7a655479 70654375 7272656e 74525043',
  '223a224a 534f4e22 2c227665 7273696f',
  '6e223a34 30397d7b 2262726f 6b657244',
  '61746173 223a5b7b 2262726f 6b657241',
  '64647273 223a7b22 30223a22 3139322e',
  '3136382e 302e3130 3a313039 3131227d',
  '2c226272 6f6b6572 4e616d65 223a2262',
  '726f6b65 722d6122 2c22636c 75737465',
  '72223a22 44656661 756c7443 6c757374',
  '6572227d 5d2c2266 696c7465 72536572',
  '76657254 61626c65 223a7b7d 2c227175',
  '65756544 61746173 223a5b7b 2262726f',
  '6b65724e 616d6522 3a226272 6f6b6572',
  '2d61222c 22706572 6d223a36 2c227265',
  '61645175 6575654e 756d7322 3a342c22',
  '746f7069 63537973 466c6167 223a302c',
  '22777269 74655175 6575654e 756d7322',
  '3a347d5d 7d',
]
  .join('')
  .replace(/ /g, '')

describe('TopicRouteData JSON', () => {
  it('reproduces the strict body of protocol.md §1.11.2 byte for byte when topicSynFlag is left out', () => {
    const body = encodeTopicRouteData(goldenRoute(), MQVersion.V4_9_8, false, { topicSynFlag: false })
    expect(body.toString('utf8')).toBe(GOLDEN_BODY)
    expect(body.length).toBe(238)
  })

  it('writes topicSynFlag just before topicSysFlag by default', () => {
    const body = encodeTopicRouteData(goldenRoute(), MQVersion.V4_9_8, false)
    expect(body.toString('utf8')).toBe(GOLDEN_BODY_WITH_SYN_FLAG)
    expect(body.length).toBe(238 + '"topicSynFlag":0,'.length)
  })

  it('reproduces the whole response frame of protocol.md §1.11.2', () => {
    const response = RemotingCommand.createResponse(0)
    response.opaque = 1
    response.body = encodeTopicRouteData(goldenRoute(), MQVersion.V4_9_8, false, { topicSynFlag: false })
    expect(encodeFrameToBuffer(response).toString('hex')).toBe(GOLDEN_RESPONSE_FRAME_HEX)
  })

  it('quotes brokerAddrs keys from version 401 on, and for older clients that accept standard JSON only', () => {
    expect(encodeTopicRouteData(goldenRoute(), MQVersion.V4_9_4, false).toString()).toContain(
      '{"0":"192.168.0.10:10911"}',
    )
    expect(encodeTopicRouteData(goldenRoute(), MQVersion.V4_5_2, true).toString()).toContain(
      '{"0":"192.168.0.10:10911"}',
    )
  })

  it('writes fastjson unquoted numeric keys for clients before 401 (Go 317, ali-ons 121)', () => {
    for (const version of [MQVersion.V4_5_2, MQVersion.V3_4_9, MQVersion.V4_9_4 - 1]) {
      const body = encodeTopicRouteData(goldenRoute(), version, false, { topicSynFlag: false }).toString()
      expect(body).toBe(GOLDEN_BODY.replace('{"0":', '{0:'))
    }
  })

  it('sorts broker ids numerically and keeps slaves', () => {
    const route = goldenRoute()
    route.brokerDatas[0]!.brokerAddrs = new Map([
      [10, '10.0.0.3:10911'],
      [2, '10.0.0.2:10911'],
      [0, '10.0.0.1:10911'],
    ])
    const loose = topicRouteDataToJson(route, { strict: false })
    expect(loose).toContain('{0:"10.0.0.1:10911",2:"10.0.0.2:10911",10:"10.0.0.3:10911"}')
    const strict = topicRouteDataToJson(route, { strict: true })
    expect(strict).toContain('{"0":"10.0.0.1:10911","2":"10.0.0.2:10911","10":"10.0.0.3:10911"}')
  })

  it('writes orderTopicConf between filterServerTable and queueDatas, and leaves it out when null', () => {
    const route = goldenRoute()
    expect(topicRouteDataToJson(route, { strict: true })).not.toContain('orderTopicConf')
    route.orderTopicConf = 'broker-a:4;broker-b:4'
    expect(topicRouteDataToJson(route, { strict: true })).toContain(
      '"filterServerTable":{},"orderTopicConf":"broker-a:4;broker-b:4","queueDatas":[',
    )
  })

  it('escapes as fastjson BrowserCompatible in strict mode: slash and non-ASCII as escapes', () => {
    const route = goldenRoute()
    route.brokerDatas[0]!.cluster = 'Clusté/r'
    route.filterServerTable = new Map([
      ['b:1', ['f:2']],
      ['a:1', []],
    ])
    const strict = topicRouteDataToJson(route, { strict: true })
    expect(strict).toContain('"cluster":"Clust\\u00E9\\/r"')
    expect(strict).toContain('"filterServerTable":{"a:1":[],"b:1":["f:2"]}')
    expect(JSON.parse(strict).brokerDatas[0].cluster).toBe('Clusté/r')
    expect(topicRouteDataToJson(route, { strict: false })).toContain('"cluster":"Clusté/r"')
  })

  it('parses both key styles back to the same route', () => {
    const route = goldenRoute()
    route.brokerDatas[0]!.brokerAddrs.set(1, '192.168.0.11:10911')
    route.filterServerTable.set('192.168.0.10:10911', ['192.168.0.10:30000'])
    route.orderTopicConf = 'broker-a:4'
    for (const strict of [true, false]) {
      const decoded = decodeTopicRouteData(Buffer.from(topicRouteDataToJson(route, { strict })))
      expect(decoded).toEqual(route)
    }
  })

  it('reads topicSynFlag when topicSysFlag is absent (pre-4.9.0 writers)', () => {
    const body =
      '{"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"topicSynFlag":3,"writeQueueNums":1}],"brokerDatas":[]}'
    const decoded = decodeTopicRouteData(Buffer.from(body))
    expect(decoded.queueDatas[0]!.topicSysFlag).toBe(3)
    expect(decoded.filterServerTable.size).toBe(0)
  })

  it('refuses bodies that are not routes', () => {
    expect(() => decodeTopicRouteData(null)).toThrow(/no body/)
    expect(() => decodeTopicRouteData(Buffer.from('{"queueDatas":{}}'))).toThrow(/malformed queueDatas/)
    expect(() =>
      decodeTopicRouteData(
        Buffer.from('{"queueDatas":[],"brokerDatas":[{"cluster":"c","brokerName":"b","brokerAddrs":{x:"a"}}]}'),
      ),
    ).toThrow()
  })
})

describe('ClusterInfo and TopicList JSON', () => {
  it('writes ClusterInfo in fastjson style with unquoted broker ids, as the Java name server always does', () => {
    const info = {
      brokerAddrTable: new Map([
        ['broker-b', { cluster: 'C', brokerName: 'broker-b', brokerAddrs: new Map([[0, '10.0.0.2:10911']]) }],
        ['broker-a', { cluster: 'C', brokerName: 'broker-a', brokerAddrs: new Map([[0, '10.0.0.1:10911']]) }],
      ]),
      clusterAddrTable: new Map([['C', new Set(['broker-b', 'broker-a'])]]),
    }
    const text = encodeClusterInfo(info).toString()
    expect(text).toBe(
      '{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"C"},' +
        '"broker-b":{"brokerAddrs":{0:"10.0.0.2:10911"},"brokerName":"broker-b","cluster":"C"}},' +
        '"clusterAddrTable":{"C":["broker-a","broker-b"]}}',
    )
    expect(decodeClusterInfo(Buffer.from(text))).toEqual(info)
  })

  it('writes TopicList with brokerAddr first and only when set', () => {
    expect(encodeTopicList({ topicList: ['T1', 'T2'], brokerAddr: null }).toString()).toBe('{"topicList":["T1","T2"]}')
    const system = encodeTopicList({ topicList: ['C'], brokerAddr: '10.0.0.1:10911' })
    expect(system.toString()).toBe('{"brokerAddr":"10.0.0.1:10911","topicList":["C"]}')
    expect(decodeTopicList(system)).toEqual({ topicList: ['C'], brokerAddr: '10.0.0.1:10911' })
  })
})
