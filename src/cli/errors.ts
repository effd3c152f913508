/** A wrong command line: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--help`: the text goes to stdout and the exit code is 0. */
export class HelpRequest extends UsageError {
  override name = 'HelpRequest';
}
