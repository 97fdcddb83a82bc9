/**
 * Topic name rules (`TopicValidator`). Topic names become directory names, so nothing outside these characters
 * may reach the file system.
 */
export const TOPIC_MAX_LENGTH = 127
/** Retry topics (`%RETRY%group`) may be longer, up to this many bytes. */
export const TOPIC_MAX_LENGTH_ANY = 255
export const RETRY_GROUP_TOPIC_PREFIX = '%RETRY%'
export const DLQ_GROUP_TOPIC_PREFIX = '%DLQ%'

const VALID_CHARS = /^[%|a-zA-Z0-9_-]+$/

/** Why a topic is refused, or `null` when it is acceptable to the store. */
export function topicProblem(topic: string): string | null {
  if (topic.length === 0) return 'the topic is empty'
  if (!VALID_CHARS.test(topic)) return `the topic "${printable(topic)}" contains characters other than %|a-zA-Z0-9_-`
  if (topic.length > TOPIC_MAX_LENGTH_ANY) return `the topic is longer than ${TOPIC_MAX_LENGTH_ANY} characters`
  if (topic.length > TOPIC_MAX_LENGTH && !topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) {
    return `the topic is longer than ${TOPIC_MAX_LENGTH} characters`
  }
  return null
}

/** A topic name safe to put in a log line or a remark: control characters escaped, length capped. */
export function printable(s: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped
}

const JAVA_VALID_CHARS = /^[%|a-zA-Z0-9_-]+$/

/**
 * The broker's check of a topic in a request (`TopicValidator.validateTopic`): the remark to answer with, or
 * `null` when the topic is acceptable.
 */
export function validateTopic(topic: string): string | null {
  if (topic.trim().length === 0) return 'The specified topic is blank.'
  if (!JAVA_VALID_CHARS.test(topic)) {
    return `The specified topic[${printable(topic)}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$`
  }
  if (topic.length > TOPIC_MAX_LENGTH) return 'The specified topic is longer than topic max length.'
  return null
}

/** Longest consumer group name: its retry topic `%RETRY%<group>` must stay within 255 characters. */
export const GROUP_MAX_LENGTH = TOPIC_MAX_LENGTH_ANY - RETRY_GROUP_TOPIC_PREFIX.length

/**
 * Why a producer or consumer group name is refused, or `null`. Group names become retry and DLQ topic names,
 * and those become directory names, so they follow the topic rules.
 */
export function groupProblem(group: string): string | null {
  if (group.length === 0) return 'the group name is empty'
  if (!VALID_CHARS.test(group)) return `the group name "${printable(group)}" contains characters other than %|a-zA-Z0-9_-`
  if (group.length > GROUP_MAX_LENGTH) return `the group name is longer than ${GROUP_MAX_LENGTH} characters`
  return null
}
