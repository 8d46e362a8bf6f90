import { BackendError } from "./errors";

/**
 * The Idempotency-Key of one user action ("Pay out now", a transfer): the same key for every
 * attempt at the same parameters until the service gives a definitive answer, so retrying
 * after a lost answer never moves money twice; a new key once it has answered, or when the
 * parameters change (the service refuses a key reused with other parameters).
 */
export class IdempotentAction {
  #key: string | null = null;
  #params: string | null = null;

  constructor(private readonly newKey: () => string = () => crypto.randomUUID()) {}

  /** The key for an attempt with `params`: the pending one while retrying the same parameters. */
  keyFor(params: unknown): string {
    const fingerprint = JSON.stringify(params ?? null);
    if (this.#key === null || fingerprint !== this.#params) {
      this.#key = this.newKey();
      this.#params = fingerprint;
    }
    return this.#key;
  }

  /** Forgets the key: the next attempt is a new action. */
  reset(): void {
    this.#key = null;
    this.#params = null;
  }

  /**
   * Runs one attempt of the action with its key. The key is kept only when the attempt failed
   * in a way that a retry may fix (no answer, 5xx, 429, key in use); any other answer settles it.
   */
  async run<T>(params: unknown, attempt: (idempotencyKey: string) => Promise<T>): Promise<T> {
    const key = this.keyFor(params);
    try {
      const result = await attempt(key);
      this.reset();
      return result;
    } catch (error) {
      if (!(error instanceof BackendError && error.transient)) this.reset();
      throw error;
    }
  }
}
