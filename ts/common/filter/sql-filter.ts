/**
 * SQL92 expressions compiled once (`SqlFilter` + the parse cache of `SelectorParser`): the same selector text always
 * compiles to the same result, so compiled expressions and compile errors are kept, a bounded number of them, for
 * the pulls that carry their expression every time (lite pull) and for the heartbeats that repeat it.
 */
import type { Logger } from '../logger.js'
import { MQFilterException, parseSelector } from './selector-parser.js'
import type { BooleanExpression } from './sql-expression.js'

export { MQFilterException } from './selector-parser.js'
export type { BooleanExpression } from './sql-expression.js'

/** Distinct expressions kept compiled (RocketMQ keeps 100). */
export const SQL_COMPILE_CACHE_ENTRIES_MAX = 256

const cache = new Map<string, BooleanExpression | MQFilterException>()

/** Compiles `expression`, or throws the `MQFilterException` it gave. */
export function compileSql92(expression: string): BooleanExpression {
  let hit = cache.get(expression)
  if (hit === undefined) {
    try {
      hit = parseSelector(expression)
    } catch (err) {
      if (!(err instanceof MQFilterException)) throw err
      hit = err
    }
    if (cache.size >= SQL_COMPILE_CACHE_ENTRIES_MAX) cache.delete(cache.keys().next().value!)
  } else {
    // Most recently used last: the first key is the one to evict.
    cache.delete(expression)
  }
  cache.set(expression, hit)
  if (hit instanceof MQFilterException) throw hit
  return hit
}

/**
 * Whether a message with these properties matches (`ExpressionMessageFilter#isMatchedByCommitLog`): only an exact
 * TRUE does; an evaluation error is logged and does not match.
 */
export function sqlMatches(
  expression: BooleanExpression,
  properties: ReadonlyMap<string, string>,
  logger?: Logger,
): boolean {
  try {
    return expression.matches((name) => properties.get(name))
  } catch (err) {
    logger?.debug({ err, expression: expression.toString() }, 'message filter evaluation failed')
    return false
  }
}
