import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { CallReporter, type GrpcInstruments } from "./call-reporter.js";
import { countedRequests, countedResponses } from "./counted-streams.js";
import { grpcCodeOf, grpcLabels, okCode } from "./grpc-labels.js";

/**
 * A Connect interceptor that reports every call on the `grpc_client_*` metrics, with
 * go-grpc-prometheus's semantics:
 *
 * - started once when the call begins, handled once when it ends, with its status code;
 * - unary: one message sent when the call starts, one received when a response arrives;
 * - streams: messages counted one by one as they flow; handled when the response stream ends
 *   (OK), fails (its code), its reader stops early, or the call's signal aborts (Canceled, or
 *   DeadlineExceeded for a deadline).
 *
 * It counts what passes through it: placed in `createClient({ interceptors })`, outside the
 * client's retry interceptor, it sees each call once however many attempts the call takes.
 */
export function createMetricsInterceptor(instruments: GrpcInstruments): Interceptor {
  return (next) => async (req) => {
    const reporter = new CallReporter(instruments, grpcLabels(req));
    if (!req.stream) {
      // As go-grpc-prometheus: the request counts as sent when the call starts.
      reporter.sentMessage();
      try {
        const res = await next(req);
        reporter.receivedMessage();
        reporter.handle(okCode);
        return res;
      } catch (error) {
        reporter.handle(grpcCodeOf(error, req.signal));
        throw error;
      }
    }
    // Connect aborts the call's signal when the caller cancels, a deadline passes, or the call
    // ends; by then an ended stream is already reported, so only a cut-short one is counted here.
    req.signal.addEventListener(
      "abort",
      () => reporter.handle(ConnectError.from(req.signal.reason, Code.Canceled).code),
      { once: true },
    );
    try {
      const res = await next({ ...req, message: countedRequests(req.message, reporter) });
      if (!res.stream) {
        reporter.receivedMessage();
        reporter.handle(okCode);
        return res;
      }
      return { ...res, message: countedResponses(res.message, reporter, req.signal) };
    } catch (error) {
      reporter.handle(grpcCodeOf(error, req.signal));
      throw error;
    }
  };
}
