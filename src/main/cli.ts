#!/usr/bin/env node
/**
 * The `assay` command (commander). Server commands, configured from the environment
 * (`src/config/load.ts` lists the variables; `assay <command> --help` prints each with its default):
 * `assay start` (API and worker in one process; embedded mode when REDIS_URL is unset; the default
 * command), `assay serve` (API only), `assay worker` (worker only) and `assay rotate-key` (new EAR
 * signing key in the data directory, published before it signs). SIGTERM and SIGINT stop intake,
 * let in-flight appraisals finish, and close connections. Output is JSON lines (`logger.ts`),
 * credentials redacted; a start that fails (a taken port, bad settings, Redis refusing) exits 1.
 *
 * Tools: `assay attest` (a test attester), `assay ear verify` (verify an EAR against a JWKS),
 * `assay audit verify` (re-compute an audit export's chains, docs/audit.md) and `assay check-config`
 * (validate the reference-values folder). They print for people (or JSON with
 * `--json`) and exit 1 with a one-line message when they fail; a usage error exits 2.
 */
import { createRequire } from 'node:module'
import { Command, CommanderError, Option } from 'commander'
import { settingsHelp } from '../config/help.js'
import { configFromEnv } from '../config/load.js'
import { loadSigningKeys } from '../results/keys.js'
import { systemClock } from '../util/clock.js'
import { DEVICE_ALGS } from '../attester/keys.js'
import { attestCommand, EVIDENCE_FORMATS } from './commands/attest.js'
import { auditVerifyCommand } from './commands/audit-verify.js'
import { checkConfigCommand } from './commands/check-config.js'
import { CliError, earVerifyCommand } from './commands/ear-verify.js'
import { createProcessLogger, loggerOptionsFor } from './logger.js'
import type { Role } from './services.js'

const ROLES: Readonly<Record<string, Role>> = { start: 'all', serve: 'api', worker: 'worker' }

// Settings errors are logged with the defaults; once the settings are read, with theirs.
let logger = createProcessLogger()
let log = logger.log

/** Rotates the EAR signing key kept in the data directory; running processes pick it up. */
async function rotateKey(): Promise<void> {
  const config = configFromEnv(process.env)
  const keys = await loadSigningKeys({
    dataDir: config.dataDir,
    lifetimeSeconds: config.earLifetimeSeconds,
    publishAheadSeconds: config.earKeyPublishAheadSeconds,
    clock: systemClock,
  })
  const next = await keys.rotate()
  logger.info(`new EAR key ${next.kid} is published now and signs from ${config.earKeyPublishAheadSeconds} s on`)
}

async function runServer(command: string): Promise<void> {
  const role = ROLES[command]!
  const config = configFromEnv(process.env)
  logger = createProcessLogger(loggerOptionsFor(config))
  log = logger.log
  // Loaded here, not at the top: the tool commands need none of the service.
  const { startAssay } = await import('./server.js')
  // Handlers go in before anything starts: a signal during start-up waits for it, then stops cleanly.
  // Once started, `startAssay` logs the start summary.
  const starting = startAssay(config, { role, logger })
  let signals = 0
  const shutdown = (signal: string) => {
    if (++signals > 1) process.exit(1)
    logger.info(`${signal}: finishing in-flight work`)
    starting.then((running) => running.stop()).then(
      () => process.exit(0),
      (err: unknown) => {
        log('shutdown failed', err)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  await starting
}

/** Runs a server command; a start that fails is logged and exits 1. */
function serverAction(command: string, run: () => Promise<void>): () => Promise<void> {
  return () =>
    run().catch((err: unknown) => {
      log(`${command === 'rotate-key' ? 'rotate-key failed' : 'failed to start'}: ${err instanceof Error ? err.message : String(err)}`, err)
      process.exit(1)
    })
}

/** The settings part of a server command's help, generated from the schema and ENV_NAMES. */
export function settingsHelpText(): string {
  const rows = settingsHelp()
  const width = Math.max(...rows.map((r) => r.env.length))
  const lines = ['', 'Settings (environment variable, default; empty counts as unset):']
  for (const r of rows) lines.push(`  ${r.env.padEnd(width)}  default ${r.defaultText}`, `      ${r.description}`)
  return lines.join('\n')
}

function packageVersion(): string {
  // src/main/cli.ts and dist/main/cli.js are both two folders below package.json.
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string }
  return pkg.version
}

/** Writes `text` to stdout; bytes as they are. */
const stdout = (text: string | Uint8Array) => void process.stdout.write(text)
const stderr = (text: string) => void process.stderr.write(text)

/**
 * Runs a tool command: its exit code, or 1 and one line on stderr when it fails (with `--json`,
 * also `{ "error": { "code", "message" } }` on stdout).
 */
function toolAction<A extends unknown[]>(run: (...args: A) => Promise<number> | number): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await run(...args)
    } catch (err) {
      if (err instanceof CliError) {
        stderr(`assay: ${err.message}\n`)
        const json = args.some((a) => typeof a === 'object' && a !== null && (a as { json?: unknown }).json === true)
        if (json) stdout(`${JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2)}\n`)
        process.exitCode = err.exitCode
        return
      }
      stderr(`assay: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    }
  }
}

export function createProgram(): Command {
  const program = new Command('assay')
    .description('Assay: a remote attestation Verifier (RFC 9334) for EAT, CWT and PSA Evidence, producing signed EAR results')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(assay --help lists the commands)')
    .exitOverride()

  const server = (name: string, description: string, run: () => Promise<void>) =>
    program
      .command(name)
      .description(description)
      .addHelpText('after', settingsHelpText())
      .action(serverAction(name, run))

  server('start', 'API and worker in one process (embedded mode when REDIS_URL is unset); the default command', () => runServer('start'))
  server('serve', 'the HTTP API only (needs REDIS_URL; workers run apart)', () => runServer('serve'))
  server('worker', 'an appraisal worker only (needs REDIS_URL)', () => runServer('worker'))
  server('rotate-key', 'make a new EAR signing key in the data directory; published now, signs after ASSAY_EAR_KEY_PUBLISH_AHEAD_SECONDS', rotateKey)

  program
    .command('attest')
    .description('a test attester: sign PSA or EAT Evidence with a device key, submit it to a running Assay, print the result')
    .addOption(new Option('-f, --format <format>', 'Evidence to build').choices(EVIDENCE_FORMATS).default('psa'))
    .addOption(new Option('--alg <alg>', 'device key algorithm when a key is made (default ES256); must match an existing key').choices(DEVICE_ALGS))
    .option('-k, --key <file>', 'device key file (private JWK, mode 0600), made when missing (default $XDG_CONFIG_HOME/assay/attester/<alg>.jwk, or ~/.config/...)')
    .addOption(new Option('-u, --url <url>', 'base URL of the Assay to ask for a nonce and submit to').env('ASSAY_URL').default('http://127.0.0.1:8080'))
    .option('-n, --nonce <nonce>', 'use this nonce (base64url or base64) instead of asking Assay for one')
    .option('-c, --claims <file>', 'JSON claims: { "psa": { ... }, "eat": { ... } }, byte strings in hex (see the README)')
    .option('--implementation-id <hex>', 'PSA Implementation ID (32 bytes)')
    .option('--client-id <n>', 'PSA client id (not 0)')
    .option('--lifecycle <state>', 'PSA security lifecycle: secured, non-psa-rot-debug, ..., or a number')
    .option('--oemid <pen|hex>', 'EAT oemid: an IANA PEN, or 3 or 16 bytes of hex')
    .option('--hwmodel <hex>', 'EAT hwmodel (hex)')
    .option('--swname <name>', 'EAT swname')
    .option('--swversion <version>', 'EAT swversion')
    .option('--dbgstat <status>', 'EAT dbgstat: enabled, disabled, disabled-since-boot, disabled-permanently, disabled-fully-and-permanently')
    .option('-o, --out <file>', 'write the signed token to <file> (- for stdout) instead of submitting it')
    .option('--print-reference-values', 'print the reference-values document that provisions this device and these claims, and exit')
    .option('--json', 'print the result as JSON')
    .option('--timeout <seconds>', 'how long to wait for Assay', '30')
    .addHelpText(
      'after',
      [
        '',
        'Exit status: 0 affirming (or the token or document was written), 3 appraised but not affirming, 1 error.',
        '',
        'Example:',
        '  assay attest --print-reference-values > reference-values/my-device.json   # provision, then restart Assay',
        '  assay attest --format psa',
        '  assay attest --format jwt --alg EdDSA --key ./device-ed25519.jwk',
      ].join('\n'),
    )
    .action(toolAction((opts: Parameters<typeof attestCommand>[0]) => attestCommand(opts, { out: stdout, err: stderr, env: process.env })))

  const ear = program.command('ear').description('attestation results (EAR)')
  ear
    .command('verify')
    .description('verify an EAR (JWT or CWT) against a JWKS and print its status, trust vector and reasons')
    .argument('<file>', 'the EAR, or - for standard input')
    .requiredOption('-j, --jwks <url|file>', 'JWKS to verify with: an http(s) URL (e.g. http://127.0.0.1:8080/.well-known/jwks.json) or a file')
    .option('-n, --nonce <nonce>', 'the nonce the result must carry (as text)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExit status: 0 when the EAR verifies (whatever its status), 1 when it does not.')
    .action(toolAction((file: string, opts: Parameters<typeof earVerifyCommand>[1]) => earVerifyCommand(file, opts, stdout)))

  const audit = program.command('audit').description('the tamper-evident audit log (docs/audit.md)')
  audit
    .command('verify')
    .description('re-compute the hash chain of each tenant in an audit export and verify its signed checkpoints against a JWKS')
    .argument('<file>', 'the export (JSON lines of entries), or - for standard input')
    .requiredOption('-j, --jwks <url|file>', 'JWKS of the verifier that signed the checkpoints: an http(s) URL (e.g. http://127.0.0.1:8080/.well-known/jwks.json) or a file')
    .option('--max-gap <n>', 'report more than <n> entries after the last checkpointed one (the checkpoint interval, plus the appends of other processes)')
    .option('--anchor <file>', 'a checkpoint JWS kept from earlier; the chain must reach it (repeatable)', (file: string, files: string[]) => [...files, file], [] as string[])
    .option('-t, --tenant <tenant>', 'check only this tenant')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      [
        '',
        'Exit status: 0 when every chain verifies, 3 when one does not (the first problem of each tenant is printed,',
        'with its kind and seq), 1 when the export, JWKS or an anchor cannot be read.',
        '',
        'Entries after the last signed checkpoint can be cut off or rewritten without a trace unless an --anchor',
        'newer than them is given; the report counts them.',
      ].join('\n'),
    )
    .action(toolAction((file: string, opts: Parameters<typeof auditVerifyCommand>[1]) => auditVerifyCommand(file, opts, stdout)))

  program
    .command('check-config')
    .description('validate the reference-values and policies folders as a start would, and print what each file holds')
    .option('-r, --reference-values <dir>', 'the folder (default: ASSAY_REFERENCE_VALUES_DIR)')
    .option('-p, --policies <dir>', 'the policies folder (default: ASSAY_POLICIES_DIR)')
    .option('--allow-published-keys', 'test mode: accept keys whose private halves are published (default: ASSAY_ALLOW_PUBLISHED_KEYS)')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit status: 0 when every file is valid, 1 naming the file and field otherwise.')
    .action(toolAction((opts: Parameters<typeof checkConfigCommand>[0]) => checkConfigCommand(opts, process.env, stdout)))

  return program
}

// `assay … | head` closes stdout early: that ends the output; it is not a failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0)
})

// `assay` alone starts the service, as it always has.
const argv = process.argv.length > 2 ? process.argv : [...process.argv, 'start']
createProgram()
  .parseAsync(argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; a usage error has been printed: exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    log(`failed: ${err instanceof Error ? err.message : String(err)}`, err)
    process.exit(1)
  })
