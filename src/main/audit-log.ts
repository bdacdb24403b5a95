/**
 * The audit log of a process (docs/audit.md): its store (a Redis stream per tenant, or a file per
 * tenant in the data directory), one recorder that signs checkpoints with the current EAR key, and
 * a timer that appends the checkpoint a quiet tenant is due, so the last entries of a log that gets
 * no more are covered within about `auditCheckpointSeconds`. The timer looks at the tenants this
 * process appended to since it started.
 */
import type { AuditEntry, AuditEntryInput } from '../audit/entry.js'
import { createAuditRecorder, type AuditRecorder } from '../audit/recorder.js'
import type { Config } from '../config/schema.js'
import type { EarKeyManager } from '../results/keys.js'
import type { AuditStore } from '../store/audit.js'
import { createMemoryAuditStore } from '../store/memory/audit-store.js'
import { createRedisAuditStore } from '../store/redis/audit-store.js'

export interface AuditLog {
  readonly store: AuditStore
  /** Appends an entry (and a checkpoint when due), remembering the tenant for the timer. */
  readonly recorder: Pick<AuditRecorder, 'record'>
  /** Stops the timer and closes the store. */
  close(): Promise<void>
}

/** Longest pause of the checkpoint timer, in seconds. */
const MAX_TICK_SECONDS = 30

export function openAuditLog(
  config: Pick<Config, 'redisUrl' | 'redisPrefix' | 'dataDir' | 'auditCheckpointSeconds' | 'auditCheckpointEntries'>,
  keys: Pick<EarKeyManager, 'current'>,
  log: (message: string, err?: unknown) => void,
): AuditLog {
  const store =
    config.redisUrl === undefined
      ? createMemoryAuditStore({ dataDir: config.dataDir, onWarning: (message) => log(`WARNING: audit log: ${message}`) })
      : createRedisAuditStore({ redis: config.redisUrl, prefix: config.redisPrefix, onClientError: (err: Error) => log('redis audit store', err) })
  const recorder = createAuditRecorder({
    store,
    signer: () => keys.current,
    everyEntries: config.auditCheckpointEntries,
    everySeconds: config.auditCheckpointSeconds,
  })
  const tenants = new Set<string>()
  let ticking = false
  const tick = async () => {
    if (ticking) return
    ticking = true
    try {
      for (const tenant of [...tenants]) await recorder.checkpointIfDue(tenant)
    } catch (err) {
      log('audit checkpoint', err)
    } finally {
      ticking = false
    }
  }
  const timer = setInterval(() => void tick(), Math.min(config.auditCheckpointSeconds, MAX_TICK_SECONDS) * 1000)
  timer.unref()
  return {
    store,
    recorder: {
      async record(tenant: string, input: AuditEntryInput): Promise<AuditEntry> {
        tenants.add(tenant)
        return recorder.record(tenant, input)
      },
    },
    async close() {
      clearInterval(timer)
      await store.close()
    },
  }
}
