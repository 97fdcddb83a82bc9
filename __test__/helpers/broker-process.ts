/** Brokers in child processes: the torture harness's, shared with the tests. */
export {
  BrokerProcess,
  freePortPairs,
  stopAllBrokerProcesses,
  type BrokerProcessSpec,
} from '../../scripts/torture/broker-process.js'
