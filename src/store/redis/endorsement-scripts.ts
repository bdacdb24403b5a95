/**
 * Lua scripts of the Redis endorsement store (`endorsement-store.ts`; key layout in
 * `keys.ts#endorsementBase`). ARGV[1] is always the tenant's key base, `<prefix>:{<tenant>}:e:`;
 * keys built from it share the tenant's hash tag, so every key a script touches is in one slot.
 *
 * Each script starts with a `#!lua` line, so Redis knows before running it whether it writes: a
 * writing script is refused whole at `maxmemory` (never stopped half way, which would leave an index
 * without its version), and the reading ones carry `no-writes`.
 */

export const ENDORSEMENT_SCRIPT_NAMES = {
  commit: 'assayEndorsementCommit',
  lookup: 'assayEndorsementLookup',
  list: 'assayEndorsementList',
  latest: 'assayEndorsementLatest',
} as const

/**
 * A document's head `m:<id>` is one string, `<latest> <first> <kind> <deleted> <active> <digest>
 * [<index id>…]` (none of these holds a space): a hash would leave Redis's compact encoding as soon as
 * one value passes 64 bytes, as an index identifier may, and cost three times as much.
 */
const PARSE_HEAD = `local function parseHead(text)
  local f = {}
  for word in string.gmatch(text, '%S+') do f[#f + 1] = word end
  return f
end`

/**
 * KEYS[1] document head `m:<id>`, KEYS[2] tenant hash `t`. ARGV: base, id, expected latest version
 * (0: none), new version number, version JSON, kind, deleted ('0'/'1'), active ('0'/'1'), digest,
 * index ids (space-separated), versions to keep, most documents, channel, tenant.
 *
 * Writes the new version only if the head is still at the expected version (another process did not
 * write first): `{'stale'}` otherwise, and the caller reads again. A new document past the tenant's
 * cap is `{'full'}`. Otherwise, in one step: the version key; the head; the document leaves the sets
 * of its previous latest version and enters those of the new one (none for a tombstone); versions
 * older than the kept number are deleted, never the latest; the revision is incremented and
 * published as `<tenant> <revision> <id>`. Returns `{'ok', revision}`.
 */
export const COMMIT_VERSION = `#!lua
${PARSE_HEAD}
local base, id = ARGV[1], ARGV[2]
local text = redis.call('GET', KEYS[1])
local head = text and parseHead(text) or nil
local latest = head and tonumber(head[1]) or 0
if latest ~= tonumber(ARGV[3]) then return {'stale'} end
local n = tonumber(ARGV[4])
local first
if head == nil then
  if tonumber(redis.call('HGET', KEYS[2], 'docs') or '0') >= tonumber(ARGV[12]) then return {'full'} end
  redis.call('HINCRBY', KEYS[2], 'docs', 1)
  first = n
else
  first = tonumber(head[2])
  if head[4] == '0' then
    redis.call('ZREM', base .. 'live', id)
    redis.call('ZREM', base .. 'kind:' .. head[3], id)
    for i = 7, #head do redis.call('ZREM', base .. 'i:' .. head[i], id) end
  end
end
redis.call('SET', base .. 'v:' .. id .. ':' .. n, ARGV[5])
if ARGV[7] == '0' then
  redis.call('ZADD', base .. 'live', 0, id)
  redis.call('ZADD', base .. 'kind:' .. ARGV[6], 0, id)
  for ix in string.gmatch(ARGV[10], '%S+') do
    redis.call('ZADD', base .. 'i:' .. ix, 0, id)
  end
end
local keep = tonumber(ARGV[11])
while n - first + 1 > keep do
  redis.call('UNLINK', base .. 'v:' .. id .. ':' .. first)
  first = first + 1
end
local newHead = n .. ' ' .. first .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. ARGV[8] .. ' ' .. ARGV[9]
if ARGV[10] ~= '' then newHead = newHead .. ' ' .. ARGV[10] end
redis.call('SET', KEYS[1], newHead)
local rev = redis.call('HINCRBY', KEYS[2], 'rev', 1)
redis.call('PUBLISH', ARGV[13], ARGV[14] .. ' ' .. rev .. ' ' .. id)
return {'ok', rev}
`

/**
 * KEYS[1] index set `i:<index id>`. ARGV: base, most results. The latest version JSON of each active
 * document in the set, in id order: a flat list of id, JSON, id, JSON… (nil for JSON when a head does
 * not parse, which the caller reports as corrupt).
 */
export const LOOKUP = `#!lua flags=no-writes
local base = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local latest, active = string.match(redis.call('GET', base .. 'm:' .. id) or '', '^(%d+) %d+ %S+ %d (%d) ')
  if not latest then
    out[#out + 1] = id
    out[#out + 1] = false
  elseif active == '1' then
    local v = redis.call('GET', base .. 'v:' .. id .. ':' .. latest)
    if v then
      out[#out + 1] = id
      out[#out + 1] = v
    end
  end
end
return out
`

/**
 * KEYS[1] a sorted set of live documents (`live`, `kind:<kind>` or `i:<index id>`). ARGV: base,
 * start (`-` or `(<id>`), limit, kind ('' for any). Returns `{more, last id, id, JSON, id, JSON…}`:
 * whether more ids follow the page, the last id of the page (the next cursor), and the latest version
 * of each document of the page that is of that kind (nil for JSON when a head does not parse).
 */
export const LIST_PAGE = `#!lua flags=no-writes
local base, limit = ARGV[1], tonumber(ARGV[3])
local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], '+', 'BYLEX', 'LIMIT', 0, limit + 1)
local count = math.min(#ids, limit)
local out = {#ids > limit and '1' or '0', ids[count] or ''}
for i = 1, count do
  local id = ids[i]
  local latest, kind = string.match(redis.call('GET', base .. 'm:' .. id) or '', '^(%d+) %d+ (%S+) ')
  if not latest then
    out[#out + 1] = id
    out[#out + 1] = false
  elseif ARGV[4] == '' or kind == ARGV[4] then
    local v = redis.call('GET', base .. 'v:' .. id .. ':' .. latest)
    if v then
      out[#out + 1] = id
      out[#out + 1] = v
    end
  end
end
return out
`

/** KEYS[1] document head. ARGV: base, id. The latest version JSON; nil without a head; `{'corrupt'}` for a head that does not parse. */
export const LATEST_VERSION = `#!lua flags=no-writes
local text = redis.call('GET', KEYS[1])
if not text then return false end
local n = string.match(text, '^(%d+) ')
if not n then return {'corrupt'} end
return redis.call('GET', ARGV[1] .. 'v:' .. ARGV[2] .. ':' .. n)
`
