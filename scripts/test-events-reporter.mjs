// A `node --test` reporter for scripts/run-tests.mjs: one JSON object per line for each event the
// runner summarises (a test starting, passing or failing, what the file printed, and the closing
// counts), with a failure's
// error already formatted as text. Not meant to be read by people; `run-tests.mjs` turns it into the
// short report.
import { inspect } from 'node:util'

/** The error a failing test threw (the test runner wraps it in ERR_TEST_FAILURE), as text. */
function formatError(error) {
  if (error === undefined || error === null) return ''
  const thrown = error.code === 'ERR_TEST_FAILURE' && error.cause !== undefined ? error.cause : error
  return inspect(thrown, { depth: 6, colors: false, breakLength: 100 })
}

export default async function* testEventsReporter(source) {
  for await (const event of source) {
    const { type, data } = event
    switch (type) {
      case 'test:start':
        yield `${JSON.stringify({ type, name: data.name, nesting: data.nesting })}\n`
        break
      case 'test:pass':
      case 'test:fail': {
        const details = data.details ?? {}
        const error = details.error
        yield `${JSON.stringify({
          type,
          name: data.name,
          nesting: data.nesting,
          file: data.file,
          suite: details.type === 'suite',
          // The reason given to `skip` (a string), true when none was given, false when not skipped.
          skip: typeof data.skip === 'string' ? data.skip : data.skip !== undefined && data.skip !== false,
          todo: data.todo !== undefined && data.todo !== false,
          // A suite fails when one of its tests does; only its own errors are worth listing.
          failureType: error?.failureType,
          error: type === 'test:fail' ? formatError(error) : undefined,
        })}\n`
        break
      }
      case 'test:stdout':
      case 'test:stderr':
        // What the test file printed (its process's output, which the test runner relays).
        yield `${JSON.stringify({ type: 'output', message: data.message })}\n`
        break
      case 'test:diagnostic':
        if (data.nesting === 0) yield `${JSON.stringify({ type, message: data.message })}\n`
        break
      default:
        break
    }
  }
}
