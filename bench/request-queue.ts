/**
 * An async iterable fed by `push`, for the request side of a bidi stream: the stream reads
 * items as they come and finishes after `end()`. Unbounded, which suits a benchmark that
 * pushes a known number of small requests.
 */
export class RequestQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #waiting: ((result: IteratorResult<T>) => void) | undefined;
  #ended = false;

  push(item: T): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting({ value: item, done: false });
      return;
    }
    this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.#head < this.#items.length) {
          const value = this.#items[this.#head] as T;
          this.#head++;
          // Drop consumed items now and then so a long-lived queue does not keep them.
          if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
            this.#items = this.#items.slice(this.#head);
            this.#head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      // Connect calls throw() on the request iterator when the call fails or is aborted.
      throw: (error: unknown) => {
        this.end();
        return Promise.reject(error);
      },
    };
  }
}
