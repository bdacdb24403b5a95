/** File helpers shared by the snapshot and the journals of the memory store. */
import { existsSync, renameSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/**
 * Renames a file that cannot be used to `<path>.corrupt-<time>`, so it is kept for inspection and is
 * never overwritten or deleted. Returns the new path; throws what `fs` throws.
 */
export function moveAside(path: string): string {
  const stamp = new Date().toISOString().replaceAll(':', '-')
  let target = `${path}.corrupt-${stamp}`
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${stamp}-${n}`
  renameSync(path, target)
  return target
}

/** Writes all of `data` at the handle's position (a single `write` may write less). */
export async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset)
    offset += bytesWritten
  }
}

/** Makes a rename or a new file in `dir` durable, where the platform can fsync a directory. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is atomic regardless.
  } finally {
    await handle?.close()
  }
}

/** Whether `err` is a Node.js system error with the given `code` (ENOENT, ...). */
export function hasErrorCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code
}

/** The message of `err`, for warnings. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
