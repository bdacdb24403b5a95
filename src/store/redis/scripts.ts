/**
 * Lua scripts of the Redis store, registered with ioredis `defineCommand` (EVALSHA, falling back to
 * EVAL after a script flush). Each script touches one key, so it is valid on Redis Cluster.
 *
 * Time inside the scripts is the Redis server's `TIME`, the same clock that expires the keys: an API
 * host and a worker host with skewed clocks still agree on which session has expired and which worker
 * heartbeat is live.
 */

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** Names under which the scripts are defined on the client; prefixed to avoid clashing with others. */
export const SCRIPT_NAMES = {
  consumeNonce: 'assayConsumeNonce',
  claimSession: 'assayClaimSession',
  finishSession: 'assayFinishSession',
  unclaimSession: 'assayUnclaimSession',
  beatHeartbeat: 'assayBeatHeartbeat',
  countHeartbeats: 'assayCountHeartbeats',
} as const

/**
 * KEYS[1] nonce key; ARGV appraisalId ('' for none), recall time in ms. An issued nonce ('i') lives
 * its TTL plus the recall time, so it is still live while its remaining TTL exceeds the recall time,
 * and expired after. A live issued nonce is marked used by that appraisal ('u:<id>'), keeping its
 * TTL: 'consumed'. A nonce already used by the same (non-empty) appraisal id, still live, is
 * 'consumed' again, so a retried job is not refused by its own earlier try; used by another, 'used';
 * issued and past its TTL, 'expired'; no key, 'unknown'. A '1' was issued before nonces were
 * recalled: its TTL is its life. `allow-oom` (Redis 7): at `maxmemory` with `noeviction` a nonce
 * must still be usable, as GETDEL was; the value grows by one appraisal id at most.
 */
export const CONSUME_NONCE = `#!lua flags=allow-oom
local v = redis.call('GET', KEYS[1])
if v == false then return 'unknown' end
local live = v == '1' or redis.call('PTTL', KEYS[1]) > tonumber(ARGV[2])
if v == 'i' or v == '1' then
  if not live then return 'expired' end
  redis.call('SET', KEYS[1], 'u:' .. ARGV[1], 'KEEPTTL')
  return 'consumed'
end
if live and ARGV[1] ~= '' and v == 'u:' .. ARGV[1] then return 'consumed' end
return 'used'
`

/**
 * KEYS[1] session hash; ARGV appraisalId, evidenceMediaType, evidenceDigest. Moves a waiting, unexpired
 * session to processing and returns its fields (flat HGETALL); nil otherwise. A missing key reads
 * as status false, so it is covered by the status test.
 */
export const CLAIM_SESSION = `
if redis.call('HGET', KEYS[1], 'status') ~= 'waiting' then return false end
${NOW_MS}
local expiresAt = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
if expiresAt == nil or expiresAt <= now then return false end
redis.call('HSET', KEYS[1], 'status', 'processing', 'appraisalId', ARGV[1],
  'evidenceMediaType', ARGV[2], 'evidenceDigest', ARGV[3])
return redis.call('HGETALL', KEYS[1])
`

/**
 * KEYS[1] session hash; ARGV appraisalId. Puts a processing session whose submission names that
 * appraisal back to waiting, without the submission; 1 when it did, 0 otherwise. HSET only on a key
 * that exists (its status was read), so it never creates a hash without a TTL.
 */
export const UNCLAIM_SESSION = `
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return 0 end
if redis.call('HGET', KEYS[1], 'appraisalId') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'appraisalId', 'evidenceMediaType', 'evidenceDigest')
redis.call('HSET', KEYS[1], 'status', 'waiting')
return 1
`

/**
 * KEYS[1] session hash; ARGV final status. Sets the status of a claimed session only: HSET on a key
 * that expired would create a hash with no TTL, and a waiting session has nothing to finish.
 */
export const FINISH_SESSION = `
local status = redis.call('HGET', KEYS[1], 'status')
if status == false or status == 'waiting' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1
`

/** KEYS[1] heartbeat sorted set; ARGV worker id, TTL in ms. Records the beat, drops expired workers. */
export const BEAT_HEARTBEAT = `
${NOW_MS}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return 1
`

/** KEYS[1] heartbeat sorted set. Drops expired workers and counts the rest. */
export const COUNT_HEARTBEATS = `
${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
`
