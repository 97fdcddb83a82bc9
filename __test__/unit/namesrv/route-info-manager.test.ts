import { beforeEach, describe, expect, it } from 'vitest'

import { newTopicConfig, type DataVersion, type TopicConfig } from '../../../ts/common/topic-config.js'
import {
  RouteInfoManager,
  type BrokerChannel,
  type RegisterBrokerRequest,
} from '../../../ts/namesrv/route-info-manager.js'

/** A stand-in for the connection a broker registers on; records whether the name server closed it. */
class FakeChannel implements BrokerChannel {
  closedWith: string | null = null
  constructor(readonly remoteAddress: string) {}
  close(reason = 'closed'): void {
    this.closedWith = reason
  }
}

function topics(...configs: TopicConfig[]): Map<string, TopicConfig> {
  return new Map(configs.map((c) => [c.topicName, c]))
}

interface Registration {
  cluster?: string
  name?: string
  addr?: string
  id?: number
  version?: DataVersion
  table?: Map<string, TopicConfig>
  channel?: BrokerChannel | null
  ha?: string
}

function request(r: Registration = {}): RegisterBrokerRequest {
  return {
    clusterName: r.cluster ?? 'DefaultCluster',
    brokerAddr: r.addr ?? '10.0.0.1:10911',
    brokerName: r.name ?? 'broker-a',
    brokerId: r.id ?? 0,
    haServerAddr: r.ha ?? '10.0.0.1:10912',
    topicConfigWrapper: {
      topicConfigTable: r.table ?? topics(newTopicConfig('T1', { readQueueNums: 4, writeQueueNums: 4 })),
      dataVersion: r.version ?? { timestamp: 1000, counter: 1 },
    },
    filterServerList: [],
    channel: r.channel === undefined ? new FakeChannel('10.0.0.1:50000') : r.channel,
  }
}

const TBW102 = newTopicConfig('TBW102', { readQueueNums: 8, writeQueueNums: 8, perm: 7 })

describe('RouteInfoManager', () => {
  let nowMs: number
  let rim: RouteInfoManager

  beforeEach(() => {
    nowMs = 1_700_000_000_000
    rim = new RouteInfoManager({ now: () => nowMs })
  })

  describe('registration', () => {
    it('builds a route from a master registration', () => {
      rim.registerBroker(request())
      const route = rim.pickupTopicRouteData('T1')
      expect(route).toEqual({
        orderTopicConf: null,
        queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }],
        brokerDatas: [
          { cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: new Map([[0, '10.0.0.1:10911']]) },
        ],
        filterServerTable: new Map(),
      })
      expect(rim.pickupTopicRouteData('T2')).toBeNull()
    })

    it('hands out copies: changing a route does not change the tables', () => {
      rim.registerBroker(request())
      const route = rim.pickupTopicRouteData('T1')!
      route.queueDatas[0]!.perm = 0
      route.brokerDatas[0]!.brokerAddrs.set(5, 'x:1')
      const again = rim.pickupTopicRouteData('T1')!
      expect(again.queueDatas[0]!.perm).toBe(6)
      expect(again.brokerDatas[0]!.brokerAddrs.size).toBe(1)
    })

    it('rewrites queue data only when the DataVersion changes (protocol.md §7.2 step 3)', () => {
      rim.registerBroker(request({ version: { timestamp: 1000, counter: 1 } }))
      const changed = topics(newTopicConfig('T1', { readQueueNums: 8, writeQueueNums: 8 }))
      rim.registerBroker(request({ version: { timestamp: 1000, counter: 1 }, table: changed }))
      expect(rim.pickupTopicRouteData('T1')!.queueDatas[0]!.writeQueueNums).toBe(4)
      rim.registerBroker(request({ version: { timestamp: 2000, counter: 2 }, table: changed }))
      expect(rim.pickupTopicRouteData('T1')!.queueDatas[0]!.writeQueueNums).toBe(8)
    })

    it('keeps topics a later registration leaves out', () => {
      rim.registerBroker(request())
      const other = topics(newTopicConfig('T2'))
      rim.registerBroker(request({ version: { timestamp: 2000, counter: 2 }, table: other }))
      expect(rim.pickupTopicRouteData('T1')).not.toBeNull()
      expect(rim.pickupTopicRouteData('T2')).not.toBeNull()
    })

    it('reports whether a DataVersion differs from the stored one', () => {
      expect(rim.isBrokerTopicConfigChanged('10.0.0.1:10911', { timestamp: 1000, counter: 1 })).toBe(true)
      rim.registerBroker(request())
      expect(rim.isBrokerTopicConfigChanged('10.0.0.1:10911', { timestamp: 1000, counter: 1 })).toBe(false)
      expect(rim.isBrokerTopicConfigChanged('10.0.0.1:10911', { timestamp: 1000, counter: 2 })).toBe(true)
      expect(rim.queryBrokerTopicConfig('10.0.0.1:10911')).toEqual({ timestamp: 1000, counter: 1 })
      expect(rim.queryBrokerTopicConfig('10.0.0.9:10911')).toBeNull()
    })

    it('adds slaves to the broker data without touching queue data, and tells them where the master is', () => {
      rim.registerBroker(request())
      const slaveTable = topics(newTopicConfig('T1', { readQueueNums: 1, writeQueueNums: 1 }), newTopicConfig('S'))
      const result = rim.registerBroker(
        request({
          id: 1,
          addr: '10.0.0.2:10911',
          ha: '10.0.0.2:10912',
          table: slaveTable,
          version: { timestamp: 5, counter: 5 },
        }),
      )
      expect(result).toEqual({ masterAddr: '10.0.0.1:10911', haServerAddr: '10.0.0.1:10912' })
      const route = rim.pickupTopicRouteData('T1')!
      expect(route.brokerDatas[0]!.brokerAddrs).toEqual(
        new Map([
          [0, '10.0.0.1:10911'],
          [1, '10.0.0.2:10911'],
        ]),
      )
      expect(route.queueDatas[0]!.writeQueueNums).toBe(4)
      expect(rim.pickupTopicRouteData('S')).toBeNull()
      expect(rim.registerBroker(request())).toEqual({ masterAddr: null, haServerAddr: null })
    })

    it('gives a slave no master address when no master is registered', () => {
      expect(rim.registerBroker(request({ id: 1, addr: '10.0.0.2:10911' }))).toEqual({
        masterAddr: null,
        haServerAddr: null,
      })
    })

    it('keeps one entry per address when a slave becomes master', () => {
      rim.registerBroker(request({ id: 1, addr: '10.0.0.2:10911' }))
      rim.registerBroker(request({ id: 0, addr: '10.0.0.2:10911' }))
      const info = rim.getAllClusterInfo()
      expect(info.brokerAddrTable.get('broker-a')!.brokerAddrs).toEqual(new Map([[0, '10.0.0.2:10911']]))
    })
  })

  describe('removal', () => {
    it('expires a broker silent for more than 120 s and closes its connection', () => {
      const channel = new FakeChannel('10.0.0.1:50000')
      rim.registerBroker(request({ channel }))
      nowMs += 120_000
      expect(rim.scanNotActiveBroker()).toBe(0)
      nowMs += 1
      expect(rim.scanNotActiveBroker()).toBe(1)
      expect(channel.closedWith).not.toBeNull()
      expect(rim.pickupTopicRouteData('T1')).toBeNull()
      expect(rim.getAllClusterInfo().clusterAddrTable.size).toBe(0)
      expect(rim.brokerLiveInfo('10.0.0.1:10911')).toBeNull()
    })

    it('keeps a broker alive through registrations and unchanged data-version queries', () => {
      rim.registerBroker(request())
      nowMs += 100_000
      rim.registerBroker(request())
      nowMs += 100_000
      rim.updateBrokerInfoUpdateTimestamp('10.0.0.1:10911')
      nowMs += 100_000
      expect(rim.scanNotActiveBroker()).toBe(0)
      expect(rim.pickupTopicRouteData('T1')).not.toBeNull()
    })

    it('removes a master but keeps the route while a slave of the same name remains', () => {
      const master = new FakeChannel('10.0.0.1:50000')
      rim.registerBroker(request({ channel: master }))
      rim.registerBroker(request({ id: 1, addr: '10.0.0.2:10911', channel: new FakeChannel('10.0.0.2:50000') }))
      rim.onChannelDestroy(master.remoteAddress, master)
      const route = rim.pickupTopicRouteData('T1')!
      expect(route.brokerDatas[0]!.brokerAddrs).toEqual(new Map([[1, '10.0.0.2:10911']]))
    })

    it('removes every broker that registered on a closed connection, and nothing else', () => {
      const shared = new FakeChannel('10.0.0.1:50000')
      rim.registerBroker(request({ channel: shared }))
      rim.registerBroker(
        request({ name: 'broker-b', addr: '10.0.0.3:10911', channel: shared, table: topics(newTopicConfig('T1')) }),
      )
      rim.registerBroker(
        request({ name: 'broker-c', addr: '10.0.0.4:10911', channel: new FakeChannel('10.0.0.4:50000') }),
      )
      rim.onChannelDestroy(shared.remoteAddress, shared)
      const route = rim.pickupTopicRouteData('T1')!
      expect(route.queueDatas.map((q) => q.brokerName)).toEqual(['broker-c'])
      expect([...rim.getAllClusterInfo().clusterAddrTable.get('DefaultCluster')!]).toEqual(['broker-c'])
    })

    it('ignores the close of a connection no broker registered on', () => {
      rim.registerBroker(request())
      rim.onChannelDestroy('10.0.0.50:41234', new FakeChannel('10.0.0.50:41234'))
      expect(rim.pickupTopicRouteData('T1')).not.toBeNull()
    })

    it('unregisters one address; the broker name, its cluster and its topics go with the last one', () => {
      rim.registerBroker(request())
      rim.registerBroker(request({ id: 1, addr: '10.0.0.2:10911' }))
      rim.unregisterBroker('DefaultCluster', '10.0.0.1:10911', 'broker-a', 0)
      expect(rim.pickupTopicRouteData('T1')!.brokerDatas[0]!.brokerAddrs).toEqual(new Map([[1, '10.0.0.2:10911']]))
      rim.unregisterBroker('DefaultCluster', '10.0.0.2:10911', 'broker-a', 1)
      expect(rim.pickupTopicRouteData('T1')).toBeNull()
      expect(rim.getAllTopicList().topicList).toEqual([])
      expect(rim.getAllClusterInfo()).toEqual({ brokerAddrTable: new Map(), clusterAddrTable: new Map() })
    })
  })

  describe('topics and permissions', () => {
    beforeEach(() => {
      rim.registerBroker(request({ table: topics(newTopicConfig('T1'), newTopicConfig('T2')) }))
      rim.registerBroker(
        request({
          cluster: 'Other',
          name: 'broker-b',
          addr: '10.0.0.3:10911',
          table: topics(newTopicConfig('T1'), newTopicConfig('T3')),
        }),
      )
    })

    it('lists all topics and the topics of one cluster', () => {
      expect(rim.getAllTopicList().topicList.sort()).toEqual(['T1', 'T2', 'T3'])
      expect(rim.getTopicsByCluster('Other').topicList.sort()).toEqual(['T1', 'T3'])
      expect(rim.getTopicsByCluster('Nope').topicList).toEqual([])
    })

    it('lists cluster and broker names as system topics with the address of a broker', () => {
      const list = rim.getSystemTopicList()
      expect(list.topicList.sort()).toEqual(['DefaultCluster', 'Other', 'broker-a', 'broker-b'])
      expect(['10.0.0.1:10911', '10.0.0.3:10911']).toContain(list.brokerAddr)
    })

    it('deletes a topic everywhere, or only on the brokers of one cluster', () => {
      rim.deleteTopic('T1', 'Other')
      expect(rim.pickupTopicRouteData('T1')!.queueDatas.map((q) => q.brokerName)).toEqual(['broker-a'])
      rim.deleteTopic('T3', 'Other')
      expect(rim.pickupTopicRouteData('T3')).toBeNull()
      rim.deleteTopic('T2')
      expect(rim.getAllTopicList().topicList.sort()).toEqual(['T1'])
    })

    it('wipes and restores the write permission of one broker, counting the topics', () => {
      expect(rim.wipeWritePermOfBroker('broker-a')).toBe(2)
      expect(rim.pickupTopicRouteData('T2')!.queueDatas[0]!.perm).toBe(4)
      const t1 = rim.pickupTopicRouteData('T1')!.queueDatas
      expect(t1.find((q) => q.brokerName === 'broker-b')!.perm).toBe(6)
      expect(rim.addWritePermOfBroker('broker-a')).toBe(2)
      expect(rim.pickupTopicRouteData('T2')!.queueDatas[0]!.perm).toBe(6)
      expect(rim.wipeWritePermOfBroker('broker-x')).toBe(0)
    })
  })

  describe('auto-create route (TBW102 fallback)', () => {
    it('answers an unknown topic with min(4, TBW102 queues) on every inheriting master, without INHERIT', () => {
      rim.registerBroker(request({ table: topics(TBW102) }))
      const small = newTopicConfig('TBW102', { readQueueNums: 2, writeQueueNums: 2, perm: 7 })
      rim.registerBroker(request({ name: 'broker-b', addr: '10.0.0.3:10911', table: topics(small) }))
      const route = rim.pickupAutoCreateRouteData('NewTopic')!
      expect(route.queueDatas).toEqual([
        { brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 },
        { brokerName: 'broker-b', readQueueNums: 2, writeQueueNums: 2, perm: 6, topicSysFlag: 0 },
      ])
      expect(route.brokerDatas.map((b) => b.brokerName)).toEqual(['broker-a', 'broker-b'])
    })

    it('skips brokers whose TBW102 lacks PERM_INHERIT or that have no master', () => {
      rim.registerBroker(request({ table: topics(newTopicConfig('TBW102', { perm: 6 })) }))
      expect(rim.pickupAutoCreateRouteData('NewTopic')).toBeNull()
      const master = new FakeChannel('10.0.0.3:50000')
      rim.registerBroker(request({ name: 'broker-b', addr: '10.0.0.3:10911', table: topics(TBW102), channel: master }))
      rim.registerBroker(request({ name: 'broker-b', addr: '10.0.0.4:10911', id: 1, table: topics(TBW102) }))
      expect(rim.pickupAutoCreateRouteData('NewTopic')!.queueDatas.map((q) => q.brokerName)).toEqual(['broker-b'])
      // The master leaves; its slave keeps TBW102 in the tables, but nobody could create the topic there.
      rim.onChannelDestroy(master.remoteAddress, master)
      expect(rim.pickupTopicRouteData('TBW102')).not.toBeNull()
      expect(rim.pickupAutoCreateRouteData('NewTopic')).toBeNull()
    })

    it('refuses invalid names and topics brokers create themselves', () => {
      rim.registerBroker(request({ table: topics(TBW102) }))
      for (const topic of ['bad topic', '', 'x'.repeat(128), '%RETRY%G', '%DLQ%G', 'SCHEDULE_TOPIC_XXXX', 'TBW102']) {
        expect(rim.pickupAutoCreateRouteData(topic), topic).toBeNull()
      }
    })

    it('answers nothing once the inheriting broker is gone', () => {
      const channel = new FakeChannel('10.0.0.1:50000')
      rim.registerBroker(request({ table: topics(TBW102), channel }))
      expect(rim.pickupAutoCreateRouteData('NewTopic')).not.toBeNull()
      rim.onChannelDestroy(channel.remoteAddress, channel)
      expect(rim.pickupAutoCreateRouteData('NewTopic')).toBeNull()
    })

    it('is off when disabled', () => {
      const off = new RouteInfoManager({ autoCreateTopicRouteEnable: false })
      off.registerBroker(request({ table: topics(TBW102) }))
      expect(off.pickupAutoCreateRouteData('NewTopic')).toBeNull()
      expect(off.pickupTopicRouteData('TBW102')).not.toBeNull()
    })

    it('uses the configured queue count', () => {
      const wide = new RouteInfoManager({ autoCreateTopicQueueNums: 16 })
      wide.registerBroker(request({ table: topics(TBW102) }))
      expect(wide.pickupAutoCreateRouteData('NewTopic')!.queueDatas[0]!.writeQueueNums).toBe(8)
    })
  })
})
