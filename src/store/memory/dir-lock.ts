/**
 * An exclusive lock on a data directory, so two processes never share one journal: a file `LOCK`
 * created with `O_EXCL` (`wx`) that holds the owner's process id. The lock is released by deleting
 * the file. A lock left by a process that died (SIGKILL, power loss) is taken over only once its
 * process id is shown not to run on this host; a process that cannot be probed counts as running.
 *
 * Limits: the probe sees only this host's processes, so a directory shared between hosts (NFS) is
 * not protected against a lock left by a dead process on the other host, and a recycled process id
 * keeps a stale lock until the operator removes it (the error says so).
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { VerifierError } from '../../errors/errors.js'
import { errorMessage, hasErrorCode } from './file-utils.js'

/** Name of the lock file inside the data directory. */
export const LOCK_FILE_NAME = 'LOCK'

/** A held lock. */
export interface DirLock {
  readonly path: string
  /** Deletes the lock file if it is still ours; never throws. */
  release(): void
}

/**
 * Locks `dataDir` (which must exist) for this process.
 * @throws VerifierError `ERR_STORE_LOCKED` when another live process holds it (or it cannot be
 *   created), naming the process id
 */
export function lockDirectory(dataDir: string): DirLock {
  const path = join(dataDir, LOCK_FILE_NAME)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      try {
        writeSync(fd, `${process.pid}\n`)
      } finally {
        closeSync(fd)
      }
      return { path, release: () => releaseIfOurs(path) }
    } catch (err) {
      if (!hasErrorCode(err, 'EEXIST')) {
        throw new VerifierError('ERR_STORE_LOCKED', `cannot create ${path}: ${errorMessage(err)}`, { cause: err })
      }
    }
    const owner = readOwner(path)
    if (owner === undefined || isRunning(owner)) {
      const who = owner === undefined ? 'a process whose id cannot be read' : `process ${owner}`
      throw new VerifierError(
        'ERR_STORE_LOCKED',
        `data directory ${dataDir} is in use by ${who} (${path}); stop it, or delete the file if no such process runs`,
      )
    }
    // The owner is gone: take the lock over. Should another process take it first, the next `wx` fails.
    try {
      unlinkSync(path)
    } catch (err) {
      if (!hasErrorCode(err, 'ENOENT')) {
        throw new VerifierError('ERR_STORE_LOCKED', `cannot remove the stale lock ${path}: ${errorMessage(err)}`, {
          cause: err,
        })
      }
    }
  }
  throw new VerifierError('ERR_STORE_LOCKED', `data directory ${dataDir} was locked by another process while starting`)
}

function readOwner(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch (err) {
    // Deleted between our `wx` and this read: the owner is gone; 0 is never a running process here.
    return hasErrorCode(err, 'ENOENT') ? 0 : undefined
  }
}

/** Whether process `pid` runs on this host; signal 0 only probes. EPERM: it runs, as another user. */
function isRunning(pid: number): boolean {
  if (pid === 0) return false
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return !hasErrorCode(err, 'ESRCH')
  }
}

function releaseIfOurs(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
  } catch {
    // Already gone, or unreadable: nothing of ours to remove.
  }
}
