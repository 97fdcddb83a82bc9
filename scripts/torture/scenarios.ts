/** The torture scenarios, in the order the harness runs them. */
import { crashLoop } from './crash-loop.js'
import { diskFull } from './disk-full.js'
import { hostileInput } from './hostile-input.js'
import { load } from './load.js'
import { networkFaults } from './network-faults.js'
import type { Scenario } from './report.js'
import { storeDamage } from './store-damage.js'

export const SCENARIOS: Scenario[] = [crashLoop, storeDamage, diskFull, load, networkFaults, hostileInput]
