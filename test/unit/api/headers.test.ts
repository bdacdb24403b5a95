/**
 * Hostile headers (issue 7 item 8): every header Assay parses is bounded in length and elements
 * before it is parsed, and a malformed element costs no exception.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { HEADER_MAX_LENGTH, HEADER_MAX_PARTS, boundedList, negotiate, preferWaitSeconds } from '../../../src/api/http.js'
import { isVerifierError } from '../../../src/errors/errors.js'
import { MEDIA_TYPE_MAX_PARAMETERS, parseMediaType, tryParseMediaType } from '../../../src/evidence/media-type.js'

const tooLarge = (err: unknown) => isVerifierError(err, 'ERR_REQUEST_HEADER_TOO_LARGE') && err.status === 431

describe('Accept', () => {
  it('a 15 KB Accept of commas is refused with 431 at once', () => {
    assert.throws(() => negotiate(','.repeat(15 * 1024)), tooLarge)
  })

  it(`more than ${HEADER_MAX_PARTS} elements is 431, even when short`, () => {
    assert.throws(() => negotiate(','.repeat(HEADER_MAX_PARTS)), tooLarge)
    assert.throws(() => negotiate(Array.from({ length: HEADER_MAX_PARTS + 1 }, () => 'a/b').join(',')), tooLarge)
  })

  it(`longer than ${HEADER_MAX_LENGTH} characters is 431`, () => {
    assert.throws(() => negotiate(`application/json; x="${'a'.repeat(HEADER_MAX_LENGTH)}"`), tooLarge)
  })

  it('within the bounds, malformed elements are skipped and a good one still wins', () => {
    const junk = Array.from({ length: HEADER_MAX_PARTS - 1 }, (_, i) => ['', '/', 'a/b;', 'x;q=1', '"'][i % 5]).join(',')
    assert.deepEqual(negotiate(`${junk.replaceAll('"', '')},application/eat+jwt`), { kind: 'ear', form: 'jwt', naming: 'ear-03' })
    assert.throws(() => negotiate(',,,'), (err) => isVerifierError(err, 'ERR_REQUEST_NOT_ACCEPTABLE'))
  })

  it('a comma inside a quoted profile does not split the element', () => {
    const r = negotiate('application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"')
    assert.equal(r.kind, 'ear')
  })
})

describe('Prefer', () => {
  it('is bounded like Accept', () => {
    assert.throws(() => preferWaitSeconds(','.repeat(15 * 1024), 10), tooLarge)
    assert.throws(() => preferWaitSeconds(`respond-async,${'x,'.repeat(HEADER_MAX_PARTS)}wait=5`, 10), tooLarge)
    assert.equal(preferWaitSeconds('respond-async, wait=5', 10), 5)
    assert.equal(preferWaitSeconds('wait=99', 10), 10)
  })

  it('boundedList splits outside quotes only', () => {
    assert.deepEqual(boundedList('X', 'a,"b,c",d\\,e'), ['a', '"b,c"', 'd\\', 'e'])
  })
})

describe('media type parser', () => {
  it(`refuses more than ${MEDIA_TYPE_MAX_PARAMETERS} parameters`, () => {
    const params = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=v`).join(';')
    assert.equal(tryParseMediaType(`a/b;${params(MEDIA_TYPE_MAX_PARAMETERS)}`)?.parameters.size, MEDIA_TYPE_MAX_PARAMETERS)
    assert.equal(tryParseMediaType(`a/b;${params(MEDIA_TYPE_MAX_PARAMETERS + 1)}`), undefined)
    assert.throws(() => parseMediaType(`a/b;${params(MEDIA_TYPE_MAX_PARAMETERS + 1)}`), (err) => isVerifierError(err, 'ERR_MEDIA_TYPE_MALFORMED'))
  })

  it('tryParseMediaType never throws, and agrees with parseMediaType', () => {
    const alphabet = fc.constantFrom(...'ab/;=", \\*+-.q1'.split(''))
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 64 })), (text) => {
        const tried = tryParseMediaType(text)
        let thrown: unknown
        let parsed
        try {
          parsed = parseMediaType(text)
        } catch (err) {
          thrown = err
        }
        if (tried === undefined) assert.ok(isVerifierError(thrown, 'ERR_MEDIA_TYPE_MALFORMED'))
        else assert.deepEqual(parsed, tried)
      }),
      { numRuns: 2000 },
    )
  })

  it('negotiate never throws anything but a catalogue error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2048 }), (text) => {
        try {
          negotiate(text)
        } catch (err) {
          assert.ok(isVerifierError(err) && (err.status === 406 || err.status === 431), String(err))
        }
      }),
      { numRuns: 1000 },
    )
  })
})
