/**
 * What a consumer subscribes to in a topic (`MessageSelector`, client.md §6.2): a tag expression (`TagA || TagB`,
 * `*`) matched by the broker on tag hashes and re-checked by the client, or an SQL92 expression over the message's
 * properties evaluated by the broker alone (it needs `enablePropertyFilter=true` there).
 */
import type { ExpressionType } from '../remoting/protocol/heartbeat.js'

export class MessageSelector {
  private constructor(
    readonly expressionType: ExpressionType,
    readonly expression: string,
  ) {}

  /** An SQL92 selector, e.g. `a BETWEEN 3 AND 7 AND region = 'eu'`. */
  static bySql(sql: string): MessageSelector {
    return new MessageSelector('SQL92', sql)
  }

  /** A tag expression: `*` (or empty) for every message, else tags separated by `||`. */
  static byTag(tag: string): MessageSelector {
    return new MessageSelector('TAG', tag)
  }
}

/** `subscribe(topic, expression, type)` and `subscribe(topic, selector)` in one shape. */
export function selectorOf(expression: string | MessageSelector | undefined, type: ExpressionType): MessageSelector {
  if (expression instanceof MessageSelector) return expression
  return type === 'SQL92' ? MessageSelector.bySql(expression ?? '') : MessageSelector.byTag(expression ?? '*')
}
