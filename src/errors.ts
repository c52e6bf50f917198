/**
 * An error with two messages: `message` is the internal one (logged, with
 * `cause`), `userMessage` is the Russian text a user may read.
 */
export class AppError extends Error {
  override name = 'AppError';
  readonly code: string;
  readonly userMessage: string;

  constructor(code: string, message: string, userMessage: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.userMessage = userMessage;
  }
}

export const GENERIC_USER_ERROR = 'Что-то пошло не так. Попробуйте ещё раз чуть позже — мы уже разбираемся.';

/** The Russian text to show a user for any thrown value. */
export function userMessageOf(err: unknown): string {
  return err instanceof AppError ? err.userMessage : GENERIC_USER_ERROR;
}
