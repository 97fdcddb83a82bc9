/**
 * The admin app over a test cluster's broker, with every answer checked against the response schema its route
 * declares (Ajv), so a schema that lies about an answer fails the test that got it.
 */
import { Ajv } from 'ajv'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'

import type { AdminBroker } from '../../ts/admin/admin-broker.js'
import { buildAdminApp } from '../../ts/admin/build-admin-app.js'

export interface CheckedAdminApp {
  app: FastifyInstance
  /** Injects the request and checks the answer against its route's schema for that status. */
  call(options: InjectOptions & { url: string }): Promise<LightMyRequestResponse>
  /** `METHOD url-pattern` of every route the app has. */
  routes(): string[]
}

export function checkedAdminApp(broker: AdminBroker, authToken?: string): CheckedAdminApp {
  const app = buildAdminApp({ broker, authToken })
  const ajv = new Ajv({ strict: false, allErrors: true })
  const responseSchemas = new Map<string, Record<string, object>>()
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const m of methods) {
      if (m === 'HEAD') continue
      const response = (route.schema as { response?: Record<string, object> } | undefined)?.response ?? {}
      responseSchemas.set(`${m} ${route.url}`, response)
    }
  })
  return {
    app,
    routes: () => [...responseSchemas.keys()],
    async call(options) {
      const res = await app.inject(options)
      const path = options.url.split('?')[0]!
      const key = [...responseSchemas.keys()].find((k) => matches(k, options.method ?? 'GET', path))
      const isJson = String(res.headers['content-type'] ?? '').includes('json')
      const schema = key === undefined ? undefined : responseSchemas.get(key)![String(res.statusCode)]
      // Every JSON answer of a route with response schemas is declared, errors included.
      const declared = key === undefined ? {} : responseSchemas.get(key)!
      if (Object.keys(declared).length > 0 && isJson)
        expect(schema, `${key} declares no ${res.statusCode} answer`).toBeDefined()
      if (schema !== undefined && isJson) {
        const validate = ajv.compile(schema)
        const ok = validate(res.json())
        expect(
          ok,
          `${options.method ?? 'GET'} ${options.url} → ${res.statusCode}: ${ajv.errorsText(validate.errors)}`,
        ).toBe(true)
      }
      return res
    },
  }
}

function matches(routeKey: string, method: string, path: string): boolean {
  const [m, pattern] = routeKey.split(' ') as [string, string]
  if (m !== method) return false
  const re = new RegExp(`^${pattern.replace(/:[^/]+/g, '[^/]+')}$`)
  return re.test(path)
}
