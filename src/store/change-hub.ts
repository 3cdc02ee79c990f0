/** In-process fan-out of StoreChange to onChange listeners; a throwing listener is logged, never fatal. */
import type { StoreLogger } from './sql-driver.js';
import type { StoreChange } from './types.js';

export class ChangeHub {
  private readonly listeners = new Set<(change: StoreChange) => void>();
  private readonly logger: StoreLogger;

  constructor(logger: StoreLogger) {
    this.logger = logger;
  }

  subscribe(listener: (change: StoreChange) => void): () => void {
    // Wrapped so the same function may subscribe twice and unsubscribe each independently.
    const entry = (change: StoreChange): void => listener(change);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  readonly deliver = (change: StoreChange): void => {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (err) {
        this.logger('error', 'store change listener threw', { kind: change.kind, error: err instanceof Error ? err.message : String(err) });
      }
    }
  };
}
