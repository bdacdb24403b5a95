import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../../src/config/load.js'
import { startAssay } from '../../../src/main/server.js'
import { serviceSuite } from './suite.js'

// The RFC 9783 sample provisions a published key: test mode (every EAR says so).
const REFERENCE_VALUES = fileURLToPath(new URL('../../../examples/reference-values/', import.meta.url))

serviceSuite('embedded mode (in-process queue, file-backed store)', async (sessionTtlSeconds) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'assay-embedded-'))
  const config = loadConfig({
    port: 0,
    dataDir,
    referenceValuesDir: REFERENCE_VALUES,
    allowPublishedKeys: true,
    sessionTtlSeconds,
    rateLimitPoints: 0,
  })
  const running = await startAssay(config, { role: 'all' })
  return {
    url: running.url!,
    async stop() {
      await running.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
})
