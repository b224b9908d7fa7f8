// Collapses identical concurrent work: while a computation for a key is in flight, later
// callers for that key share its promise instead of starting their own. A cold credential
// asked for by 500 connections at once costs one bcrypt check (or one forge call), not 500.

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = work().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }
}
