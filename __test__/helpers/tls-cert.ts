/**
 * Throw-away certificates for TLS tests, made in process with node:crypto: no fixture files that expire, and no
 * dependency on the `openssl` CLI (tests cross-check against it where it is installed).
 *
 * Node can parse X.509 (`crypto.X509Certificate`) but not create it, so `issueCertificate` writes the DER of a
 * minimal X.509 v3 certificate itself (RFC 5280 §4.1): a P-256 key, ECDSA-SHA256 signature, basicConstraints,
 * keyUsage for a CA, subjectAltName for a server. `crypto.sign` with an EC key returns the DER-encoded ECDSA
 * signature X.509 wants.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'

export interface TestCertificate {
  /** PKCS#8 PEM private key. */
  key: string
  /** PEM certificate. */
  cert: string
  /** The private key, to sign certificates with when this is a CA. */
  privateKey: KeyObject
  subject: string
}

export interface IssueOptions {
  /** Common name of the subject. */
  commonName: string
  /** The issuing CA; omitted for a self-signed certificate. */
  issuer?: TestCertificate
  /** Marks the certificate as a CA that may sign others. */
  isCA?: boolean
  /** subjectAltName entries: DNS names and IP addresses (IPv4). */
  dnsNames?: string[]
  ipAddresses?: string[]
  validityMs?: number
}

// DER (X.690) building blocks.

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body])
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, ...items)
const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items)
const octetString = (b: Buffer): Buffer => tlv(0x04, b)
const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'))
const derTrue = (): Buffer => Buffer.from([0x01, 0x01, 0xff])
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner)

function unsignedInteger(bytes: Buffer): Buffer {
  let b = bytes
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1)
  return tlv(0x02, (b[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), b]) : b)
}

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes)
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number)
  const out: number[] = [40 * arcs[0]! + arcs[1]!]
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f]
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f))
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}

function utcTime(ms: number): Buffer {
  const d = new Date(ms)
  const two = (n: number): string => String(n).padStart(2, '0')
  const text = `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`
  return tlv(0x17, Buffer.from(text, 'ascii'))
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2'
const OID_COMMON_NAME = '2.5.4.3'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'

const name = (commonName: string): Buffer => sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(commonName))))

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), derTrue(), octetString(value)) : sequence(oid(id), octetString(value))
}

function subjectAltName(dnsNames: string[], ipAddresses: string[]): Buffer {
  const general = [
    ...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))),
    ...ipAddresses.map((ip) => tlv(0x87, Buffer.from(ip.split('.').map(Number)))),
  ]
  return sequence(...general)
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}

/** Issues a certificate for a fresh P-256 key, signed by `issuer` (or by itself). */
export function issueCertificate(options: IssueOptions): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const nowMs = Date.now()
  const serial = randomBytes(16)
  serial[0]! &= 0x7f
  const extensions: Buffer[] = []
  if (options.isCA) {
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, sequence(derTrue())))
    // keyCertSign (bit 5) and cRLSign (bit 6): 0b00000110, one unused trailing bit.
    extensions.push(extension(OID_KEY_USAGE, true, bitString(Buffer.from([0x06]), 1)))
  } else {
    extensions.push(extension(OID_BASIC_CONSTRAINTS, true, sequence()))
  }
  const dnsNames = options.dnsNames ?? []
  const ipAddresses = options.ipAddresses ?? []
  if (dnsNames.length + ipAddresses.length > 0) {
    extensions.push(extension(OID_SUBJECT_ALT_NAME, false, subjectAltName(dnsNames, ipAddresses)))
  }
  const algorithm = sequence(oid(OID_ECDSA_SHA256))
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(serial),
    algorithm,
    name(options.issuer?.subject ?? options.commonName),
    sequence(utcTime(nowMs - 60 * 60 * 1000), utcTime(nowMs + (options.validityMs ?? 24 * 60 * 60 * 1000))),
    name(options.commonName),
    spki,
    explicit(3, sequence(...extensions)),
  )
  const signature = sign('sha256', tbs, options.issuer?.privateKey ?? privateKey)
  const der = sequence(tbs, algorithm, bitString(signature))
  return {
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: toPem(der),
    privateKey,
    subject: options.commonName,
  }
}

export interface TestPki {
  ca: TestCertificate
  /** Server certificate for `localhost` and `127.0.0.1`, signed by `ca`. */
  server: TestCertificate
  /** Client certificate signed by `ca`. */
  client: TestCertificate
  /** A second CA nobody trusts, and a client certificate it signed. */
  otherCa: TestCertificate
  untrustedClient: TestCertificate
}

/** A CA with a server and a client certificate, plus an untrusted CA and client. */
export function createTestPki(): TestPki {
  const ca = issueCertificate({ commonName: 'ferrymq test CA', isCA: true })
  const otherCa = issueCertificate({ commonName: 'ferrymq untrusted CA', isCA: true })
  return {
    ca,
    server: issueCertificate({
      commonName: 'localhost',
      issuer: ca,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    }),
    client: issueCertificate({ commonName: 'ferrymq test client', issuer: ca }),
    otherCa,
    untrustedClient: issueCertificate({ commonName: 'ferrymq untrusted client', issuer: otherCa }),
  }
}

/** The public key of a certificate's issuer, for `X509Certificate#verify`. */
export function publicKeyOf(cert: TestCertificate): KeyObject {
  return createPublicKey(cert.privateKey)
}
