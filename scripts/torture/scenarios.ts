/** The torture scenarios, in the order the harness runs them. */
import { crashLoop } from './crash-loop.js'
import { load } from './load.js'
import type { Scenario } from './report.js'

export const SCENARIOS: Scenario[] = [crashLoop, load]
