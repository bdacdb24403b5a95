/**
 * Where the published conformance vectors live: `test/vectors/`, a copy kept in the repository so
 * that a clone runs its whole suite with nothing beside it (`test/vectors/README.md` names each
 * vector's source and licence). `test/unit/vectors.test.ts` checks the copy against
 * `../shared/vectors` wherever that directory exists (CI).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (absolute, with a trailing separator). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** `test/vectors/` (absolute, with a trailing separator). */
export const VECTOR_DIR = fileURLToPath(new URL('../vectors/', import.meta.url))

/** The file names (`<id>.json`) of every vector in `test/vectors/`, sorted. */
export function vectorFiles(dir: string = VECTOR_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
}

/** The absolute path of vector `id` (its file name without `.json`). */
export function vectorPath(id: string): string {
  return join(VECTOR_DIR, `${id}.json`)
}

/** Vector `id`, parsed. `T` is the shape the caller reads; nothing is validated here. */
export function readVector<T>(id: string): T {
  return JSON.parse(readFileSync(vectorPath(id), 'utf8')) as T
}

/** Where the published vectors sit beside the repository (CI): `../shared/vectors`. */
export const SHARED_VECTOR_DIR = join(REPO_ROOT, '../shared/vectors')

/** `SHARED_VECTOR_DIR` if it exists, else `undefined` (a clone with nothing beside it). */
export function sharedVectorDir(): string | undefined {
  return existsSync(SHARED_VECTOR_DIR) ? SHARED_VECTOR_DIR : undefined
}
