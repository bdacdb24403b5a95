/** Redis for integration tests: the URL, and deleting everything a run wrote under its prefix. */
import { Redis } from 'ioredis'

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'

/** Deletes every key of a run: the store's (`prefix:…`) and BullMQ's (`{prefix}:…`). Nothing else. */
export async function deletePrefix(prefix: string, url: string = REDIS_URL): Promise<void> {
  const redis = new Redis(url)
  try {
    for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.unlink(...keys)
      } while (cursor !== '0')
    }
  } finally {
    redis.disconnect()
  }
}
