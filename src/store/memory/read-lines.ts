/**
 * Reads a file of `\n`-terminated lines synchronously (a store loads before it serves), a few MB at a
 * time, so a file larger than the largest string still loads and memory holds one chunk.
 */
import { closeSync, openSync, readSync } from 'node:fs'

const CHUNK_BYTES = 4 * 1024 * 1024
const NEWLINE = 0x0a

/** What {@link readLinesSync} read. */
export interface ReadLines {
  /** Bytes read. */
  readonly bytes: number
  /** Bytes after the last `\n`: a line cut short (by a crash during an append), or 0. */
  readonly tailBytes: number
}

/**
 * Calls `onLine` with each line that ends in `\n` (without it), decoded as UTF-8, in order. Stops early
 * when `onLine` returns false (then the counts cover what was read so far). Throws what `fs` throws.
 */
export function readLinesSync(path: string, onLine: (line: string) => boolean | void): ReadLines {
  const fd = openSync(path, 'r')
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
    let carry = Buffer.alloc(0)
    let bytes = 0
    for (;;) {
      const read = readSync(fd, chunk, 0, CHUNK_BYTES, null)
      if (read === 0) break
      bytes += read
      const data = carry.length === 0 ? chunk.subarray(0, read) : Buffer.concat([carry, chunk.subarray(0, read)])
      let start = 0
      for (let end = data.indexOf(NEWLINE, start); end !== -1; end = data.indexOf(NEWLINE, start)) {
        if (onLine(data.toString('utf8', start, end)) === false) return { bytes, tailBytes: 0 }
        start = end + 1
      }
      // A copy: `chunk` is overwritten by the next read.
      carry = Buffer.from(data.subarray(start))
    }
    return { bytes, tailBytes: carry.length }
  } finally {
    closeSync(fd)
  }
}
