/**
 * EAT descriptor (RFC 9711, RFC 8392, RFC 9782): claim keys and names, enumerated claim values,
 * the standard profile id and the media types. Named constants only; no logic beyond lookups.
 */

/** CBOR claim keys (CWT key space) by the camelCase field name `EatClaims` uses. */
export const CLAIM_KEY = Object.freeze({
  iss: 1,
  sub: 2,
  aud: 3,
  exp: 4,
  nbf: 5,
  iat: 6,
  cti: 7,
  cnf: 8,
  scope: 9,
  nonces: 10,
  ueid: 256,
  sueids: 257,
  oemid: 258,
  hwmodel: 259,
  hwversion: 260,
  uptime: 261,
  oemboot: 262,
  dbgstat: 263,
  location: 264,
  eatProfile: 265,
  submods: 266,
  bootcount: 267,
  bootseed: 268,
  dloas: 269,
  swname: 270,
  swversion: 271,
  manifests: 272,
  measurements: 273,
  measres: 274,
  intuse: 275,
})

export type ClaimField = keyof typeof CLAIM_KEY

export interface ClaimRow {
  /** CBOR claim key (integer; CBOR tokens MUST use it, RFC 9711 §4). */
  readonly key: number
  /** JWT claim name (JSON tokens MUST use it). */
  readonly name: string
  /** Field of `EatClaims` that carries the decoded value. */
  readonly field: ClaimField
}

const row = (field: ClaimField, name: string): ClaimRow => Object.freeze({ key: CLAIM_KEY[field], name, field })

/**
 * The claim table: RFC 8392 §3.1 (1..7), RFC 8747 (cnf 8), RFC 9200 (scope 9) and RFC 9711 §4
 * (eat_nonce 10, 256..275). Note `cti` is `jti` in JWT, with a different type (text).
 */
export const CLAIMS: readonly ClaimRow[] = Object.freeze([
  row('iss', 'iss'),
  row('sub', 'sub'),
  row('aud', 'aud'),
  row('exp', 'exp'),
  row('nbf', 'nbf'),
  row('iat', 'iat'),
  row('cti', 'jti'),
  row('cnf', 'cnf'),
  row('scope', 'scope'),
  row('nonces', 'eat_nonce'),
  row('ueid', 'ueid'),
  row('sueids', 'sueids'),
  row('oemid', 'oemid'),
  row('hwmodel', 'hwmodel'),
  row('hwversion', 'hwversion'),
  row('uptime', 'uptime'),
  row('oemboot', 'oemboot'),
  row('dbgstat', 'dbgstat'),
  row('location', 'location'),
  row('eatProfile', 'eat_profile'),
  row('submods', 'submods'),
  row('bootcount', 'bootcount'),
  row('bootseed', 'bootseed'),
  row('dloas', 'dloas'),
  row('swname', 'swname'),
  row('swversion', 'swversion'),
  row('manifests', 'manifests'),
  row('measurements', 'measurements'),
  row('measres', 'measres'),
  row('intuse', 'intuse'),
])

/** Claim rows by CBOR key. */
export const CLAIM_BY_KEY: ReadonlyMap<number, ClaimRow> = new Map(CLAIMS.map((r) => [r.key, r]))

/** Debug status names (RFC 9711 §4.2.9), indexed by the CBOR value 0..4. */
export const DEBUG_STATUS = Object.freeze([
  'enabled',
  'disabled',
  'disabled-since-boot',
  'disabled-permanently',
  'disabled-fully-and-permanently',
] as const)

export type DebugStatus = (typeof DEBUG_STATUS)[number]

/** Measurement result names (RFC 9711 §4.2.17), by CBOR value 1..4. */
export const MEASUREMENT_RESULT: ReadonlyMap<number, MeasurementResult> = new Map([
  [1, 'success'],
  [2, 'fail'],
  [3, 'not-run'],
  [4, 'absent'],
] as const)

export type MeasurementResult = 'success' | 'fail' | 'not-run' | 'absent'

export interface LocationRow {
  readonly key: number
  /** JSON member name. */
  readonly name: string
  /** Field of the decoded location. */
  readonly field: LocationField
}

export type LocationField =
  | 'latitude'
  | 'longitude'
  | 'altitude'
  | 'accuracy'
  | 'altitudeAccuracy'
  | 'heading'
  | 'speed'
  | 'timestamp'
  | 'age'

/** Keys of the location map (RFC 9711 §4.2.10); W3C Geolocation semantics. */
export const LOCATION_KEYS: readonly LocationRow[] = Object.freeze([
  { key: 1, name: 'latitude', field: 'latitude' },
  { key: 2, name: 'longitude', field: 'longitude' },
  { key: 3, name: 'altitude', field: 'altitude' },
  { key: 4, name: 'accuracy', field: 'accuracy' },
  { key: 5, name: 'altitude-accuracy', field: 'altitudeAccuracy' },
  { key: 6, name: 'heading', field: 'heading' },
  { key: 7, name: 'speed', field: 'speed' },
  { key: 8, name: 'timestamp', field: 'timestamp' },
  { key: 9, name: 'age', field: 'age' },
] as const satisfies readonly LocationRow[])

/** Intended-use values (RFC 9711 §10.5, IANA "EAT Intended Uses"; 0 reserved, at most 255). */
export const INTENDED_USE = Object.freeze({
  generic: 1,
  registration: 2,
  provisioning: 3,
  csr: 4,
  pop: 5,
})

/** CoSWID version schemes used by hwversion and swversion (RFC 9393 `$version-scheme`). */
export const VERSION_SCHEME = Object.freeze({
  multipartnumeric: 1,
  multipartnumericSuffix: 2,
  alphanumeric: 3,
  decimal: 4,
  semver: 16384,
})

/** The Constrained Device Standard Profile (RFC 9711 §6.4). */
export const EAT_PROFILE_RFC9711 = 'urn:ietf:rfc:rfc9711'

/** EAT media types (RFC 9782). The only parameter is `eat_profile`. */
export const MEDIA_TYPE = Object.freeze({
  eatCwt: 'application/eat+cwt',
  eatJwt: 'application/eat+jwt',
  eatBundleCbor: 'application/eat-bun+cbor',
  eatBundleJson: 'application/eat-bun+json',
  eatUnprotectedCbor: 'application/eat-ucs+cbor',
  eatUnprotectedJson: 'application/eat-ucs+json',
})

export type EatMediaType = (typeof MEDIA_TYPE)[keyof typeof MEDIA_TYPE]

/** CoAP Content-Format numbers of the EAT media types (RFC 9782, IANA "CoAP Content-Formats"). */
export const COAP_CONTENT_FORMAT: ReadonlyMap<EatMediaType, number> = new Map<EatMediaType, number>([
  [MEDIA_TYPE.eatCwt, 263],
  [MEDIA_TYPE.eatJwt, 264],
  [MEDIA_TYPE.eatBundleCbor, 265],
  [MEDIA_TYPE.eatBundleJson, 266],
  [MEDIA_TYPE.eatUnprotectedCbor, 267],
  [MEDIA_TYPE.eatUnprotectedJson, 268],
])

/** The media-type parameter that mirrors the `eat_profile` claim (RFC 9782). */
export const EAT_PROFILE_PARAMETER = 'eat_profile'
