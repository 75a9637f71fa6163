import { Code } from "@connectrpc/connect";
import type { CallReporter } from "./call-reporter.js";
import { grpcCodeOf, okCode } from "./grpc-labels.js";

const secondsSince = (start: number) => (performance.now() - start) / 1000;

/**
 * The request messages of a stream, counted as the transport takes them. A message counts as
 * sent when the transport asks for the next one (or learns there is none): Connect's transport
 * pulls only after it has written the previous message, which is when gRPC-Go's `SendMsg`
 * returns. Nothing is read ahead or buffered.
 */
export function countedRequests<T>(source: AsyncIterable<T>, reporter: CallReporter): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]();
      // When the transport took the latest message; undefined once that write is settled.
      let handedOverAt: number | undefined;
      const settle = (written: boolean) => {
        if (handedOverAt === undefined) return;
        reporter.observeSend(secondsSince(handedOverAt));
        if (written) reporter.sentMessage();
        handedOverAt = undefined;
      };
      return {
        async next() {
          settle(true);
          const result = await it.next();
          if (result.done !== true) handedOverAt = performance.now();
          return result;
        },
        async return(value?: unknown) {
          // The transport gave up on the stream: the message it held did not go out.
          settle(false);
          return it.return === undefined
            ? { done: true, value: value as T }
            : await it.return(value as T | PromiseLike<T>);
        },
        async throw(error?: unknown) {
          settle(false);
          if (it.throw === undefined) throw error;
          return await it.throw(error);
        },
      };
    },
  };
}

/**
 * The response messages of a stream, counted as the application reads them, with the wait of
 * each read observed. The call is reported handled when the stream ends (OK), fails (the
 * error's code) or the reader stops early (Canceled).
 */
export function countedResponses<T>(
  source: AsyncIterable<T>,
  reporter: CallReporter,
  signal: AbortSignal,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = source[Symbol.asyncIterator]();
      return {
        async next() {
          const waitingSince = performance.now();
          let result: IteratorResult<T>;
          try {
            result = await it.next();
          } catch (error) {
            reporter.observeReceive(secondsSince(waitingSince));
            reporter.handle(grpcCodeOf(error, signal));
            throw error;
          }
          reporter.observeReceive(secondsSince(waitingSince));
          if (result.done === true) reporter.handle(okCode);
          else reporter.receivedMessage();
          return result;
        },
        async return(value?: unknown) {
          reporter.handle(Code.Canceled);
          return it.return === undefined
            ? { done: true, value: value as T }
            : await it.return(value as T | PromiseLike<T>);
        },
      };
    },
  };
}
