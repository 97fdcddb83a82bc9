/**
 * The admin HTTP API (Fastify), built by a factory so tests use `inject()` and the broker process listens elsewhere
 * (STYLE.md §2). Every route declares its schemas; the OpenAPI document is served at `/docs/json`.
 *
 * Auth: with `authToken` set, every route but the health probes, the dashboard page and the OpenAPI document needs
 * `Authorization: Bearer <token>`; a refused request gets 401 before any handler runs, so nothing is half applied.
 * Until the broker serves requests (store recovered) the API and metrics answer 503; `/readyz` also waits for the
 * first registration to reach a name server, while the API stays usable to see why it has not.
 */
import { timingSafeEqual } from 'node:crypto'

import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'

import type { AdminBroker } from './admin-broker.js'
import { adminErrorHandler } from './error-handler.js'
import { clusterRoutes } from './routes/cluster.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { groupRoutes } from './routes/groups.js'
import { messageRoutes } from './routes/messages.js'
import { metricsRoutes } from './routes/metrics.js'
import { replicationRoutes } from './routes/replication.js'
import { storeRoutes } from './routes/store.js'
import { topicRoutes } from './routes/topics.js'
import { healthSchema, readySchema } from './schemas.js'

export interface AdminAppOptions {
  broker: AdminBroker
  /** Fastify's logger option: false, or a pino instance / options. */
  logger?: boolean | object
  /** Bearer token every API request must carry; empty or absent: no auth (loopback only, see `adminAuthProblem`). */
  authToken?: string
}

/**
 * Longest path parameter the router takes, percent-encoded: a topic or group name has at most 255 characters, each
 * at most 3 once encoded. Fastify's default (100) refused valid names of 101 characters and more with its own 414.
 */
const PATH_PARAM_CHARS_MAX = 3 * 255

/** Routes anyone may call: probes, the page shell (it asks for the token itself) and the API description. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/', '/docs/json'])

/** Why the admin API must not listen on `host` with this token, or null: off the loopback it needs a token. */
export function adminAuthProblem(host: string, authToken: string | undefined): string | null {
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host)
  if (loopback || (authToken !== undefined && authToken.length > 0)) return null
  return `the admin API listens on ${host}, off the loopback: set adminToken (clients send "Authorization: Bearer <token>"), or set adminHost to 127.0.0.1`
}

function tokenMatches(request: FastifyRequest, token: Buffer): boolean {
  const header = request.headers.authorization
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false
  const given = Buffer.from(header.slice('Bearer '.length).trim())
  return given.length === token.length && timingSafeEqual(given, token)
}

export function buildAdminApp(options: AdminAppOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    ajv: { customOptions: { removeAdditional: false } },
    routerOptions: { maxParamLength: PATH_PARAM_CHARS_MAX },
    // What the router refuses before any route runs (a longer parameter, a malformed escape) is a 400 in the API's
    // own error shape, as a schema refusal is, instead of Fastify's.
    frameworkErrors: (err, _request, reply: FastifyReply) => {
      void reply.code(400).send({ code: 'BAD_REQUEST', message: err.message })
    },
  })
  const broker = options.broker
  const token = options.authToken ? Buffer.from(options.authToken) : null

  app.setErrorHandler(adminErrorHandler)
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  )

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!
    if (OPEN_PATHS.has(path)) return
    if (token !== null && !tokenMatches(request, token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="ferrymq"')
        .send({ code: 'UNAUTHORIZED', message: 'missing or wrong bearer token (Authorization: Bearer <adminToken>)' })
    }
    if (!broker.isReady()) {
      return reply
        .code(503)
        .send({ code: 'NOT_READY', message: 'the broker is starting: store recovery or registration not done' })
    }
  })

  void app.register(swagger, {
    openapi: {
      info: { title: 'ferrymq admin API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(token !== null ? { security: [{ bearer: [] }] } : {}),
    },
  })

  void app.register(async (api) => {
    api.get(
      '/healthz',
      { schema: { summary: 'Liveness', tags: ['health'], response: { 200: healthSchema } } },
      async () => ({ status: 'ok' }),
    )
    api.get(
      '/readyz',
      {
        schema: {
          summary: 'Ready once the store has recovered and the broker registered',
          tags: ['health'],
          response: { 200: readySchema, 503: readySchema },
        },
      },
      async (_request, reply) => {
        const ready = broker.isReady() && broker.hasRegistered()
        return reply.code(ready ? 200 : 503).send({ ready })
      },
    )
    api.get('/docs/json', { schema: { hide: true } }, async () => app.swagger())
    storeRoutes(api, broker)
    topicRoutes(api, broker)
    groupRoutes(api, broker)
    messageRoutes(api, broker)
    clusterRoutes(api, broker)
    replicationRoutes(api, broker)
    metricsRoutes(api, broker)
    dashboardRoutes(api)
  })

  return app
}
