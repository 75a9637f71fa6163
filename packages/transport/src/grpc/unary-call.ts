import {
  create,
  type DescMessage,
  type DescMethodUnary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { copyBytes } from "../codec/byte-slab.js";
import { messageCodec } from "../codec/message-codec.js";
import { toWebHeaders } from "../http2/headers.js";
import type { Http2Headers } from "../http2/stream.js";
import {
  applyInterceptors,
  clampTimeoutMs,
  deadlineKey,
  methodPath,
  startDeadline,
  statusAfterDeadline,
} from "./call-chain.js";
import { encodeEnveloped } from "./envelope.js";
import { onAbort } from "./on-abort.js";
import { grpcStatus } from "./status.js";

/** The raw answer to one unary attempt. */
export interface UnaryAnswer {
  headers: Http2Headers;
  trailers: Http2Headers;
  /**
   * The fields that carry the gRPC status: the trailers, or the headers of a trailers-only
   * answer; undefined when the server sent neither.
   */
  status: Http2Headers | undefined;
  /**
   * The one response message, without its envelope; undefined when none came. A message of 256
   * KiB or more may come as the parts it arrived in (see `EnvelopeSink.onMessageParts`).
   */
  message: Uint8Array | Uint8Array[] | undefined;
}

/** One attempt's wire work, given an encoded request frame; see {@link createUnaryCall}. */
export type SendUnary = (req: UnaryRequest, frame: Uint8Array, path: string) => Promise<UnaryAnswer>;

/** Options of {@link createUnaryCall}. */
export interface UnaryCallOptions {
  interceptors: Interceptor[];
  /** Sends one framed request and collects the raw answer (balancing lives there). */
  send: SendUnary;
}

// A signal that never aborts, shared by calls that have no signal and no deadline: no
// AbortController per call (an aborted controller allocates a DOMException, measurably).
export const neverSignal: AbortSignal = new AbortController().signal;

/**
 * The unary half of a Connect Transport, written for etcd's small calls: interceptors are
 * composed once, a call allocates no sentinel error, no async-iterable pipeline and no
 * AbortController unless it has a deadline, and the message is framed into one buffer.
 * Measured on this project's machine kind: see bench/README.md.
 */
export function createUnaryCall(options: UnaryCallOptions) {
  const { send } = options;

  // Not an async function: its promise and frame would be one more of each per call.
  const next = (req: UnaryRequest): Promise<UnaryResponse> => {
    const method = req.method;
    let sent: Promise<UnaryAnswer>;
    try {
      sent = send(req, encodeEnveloped(method.input, req.message), methodPath(method));
    } catch (error) {
      return Promise.reject(error);
    }
    return sent.then((answer) => {
      const failure = grpcStatus(answer.status, answer.headers);
      if (failure !== undefined) throw statusAfterDeadline(failure, req.contextValues.get(deadlineKey));
      const message = decodeAnswer(method.output, answer);
      return new Response(req, message, answer.headers, answer.trailers);
    });
  };
  const chain = applyInterceptors(options.interceptors, next);

  // Not an async function, as `next`; like one, it never throws: a failure is a rejection.
  return function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    requestedTimeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues?: ContextValues,
  ): Promise<UnaryResponse<I, O>> {
    try {
      return start(method, signal, requestedTimeoutMs, header, input, contextValues);
    } catch (error) {
      // Headers or a message init that cannot be built, before any interceptor ran.
      return Promise.reject(error);
    }
  };

  function start<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    requestedTimeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues: ContextValues | undefined,
  ): Promise<UnaryResponse<I, O>> {
    const headers = new Headers(header);
    const values = contextValues ?? createContextValues();
    // A deadline gRPC cannot carry (fractional, or past 8 digits) would make an invalid header.
    const timeoutMs = clampTimeoutMs(requestedTimeoutMs);
    let callSignal = signal ?? neverSignal;
    let timer: NodeJS.Timeout | undefined;
    let controller: AbortController | undefined;
    let unlink: (() => void) | undefined;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      values.set(deadlineKey, Date.now() + timeoutMs);
      const deadline = startDeadline(headers, timeoutMs);
      controller = deadline.controller;
      timer = deadline.timer;
      const abort = controller;
      if (signal !== undefined) {
        if (signal.aborted) abort.abort(signal.reason);
        else {
          // Removed when the call ends: a long-lived caller signal must not collect listeners.
          unlink = onAbort(signal, () => abort.abort(signal.reason));
        }
      }
      callSignal = controller.signal;
    }
    const req: UnaryRequest<I, O> = {
      stream: false,
      service: method.parent,
      method,
      requestMethod: "POST",
      url: "",
      header: headers,
      contextValues: values,
      signal: callSignal,
      message: isMessage(input, method.input) ? (input as MessageShape<I>) : create(method.input, input),
    };
    // Even an already aborted call goes through the interceptors (metrics count it once);
    // the transport below sends nothing for it.
    let answer: Promise<UnaryResponse>;
    try {
      answer = chain(req as unknown as UnaryRequest);
    } catch (error) {
      answer = Promise.reject(error);
    }
    const failed = (error: unknown): never => {
      throw callError(error, callSignal);
    };
    if (timer === undefined && unlink === undefined) {
      return answer.then(undefined, failed) as unknown as Promise<UnaryResponse<I, O>>;
    }
    const settled = () => {
      clearTimeout(timer);
      unlink?.();
    };
    return answer.then(
      (response) => {
        settled();
        return response;
      },
      (error: unknown) => {
        settled();
        return failed(error);
      },
    ) as unknown as Promise<UnaryResponse<I, O>>;
  }
}

/**
 * What a call throws: an aborted call reports its abort (the deadline, or Canceled), unless the
 * error already says so with the same code: an interceptor may have wrapped the abort with what it
 * knows of the call (the client's retry interceptor adds where it went), and that is kept.
 */
export function callError(error: unknown, signal: AbortSignal): ConnectError {
  if (!signal.aborted) return ConnectError.from(error);
  const aborted = abortError(signal);
  return error instanceof ConnectError && error.code === aborted.code ? error : aborted;
}

/** The error of an aborted call: the deadline's, or Canceled with the caller's reason. */
export function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return new ConnectError(
    reason instanceof Error ? reason.message : "This operation was aborted",
    Code.Canceled,
    undefined,
    undefined,
    reason,
  );
}

// The answer's message, once its status said OK.
function decodeAnswer<O extends DescMessage>(output: O, answer: UnaryAnswer): MessageShape<O> {
  const message = answer.message;
  if (message === undefined) {
    throw new ConnectError("protocol error: missing output message for unary method", Code.Internal);
  }
  // Decoded bytes fields are views into the message, so one that shares its buffer (a socket
  // read) is copied out: a key the caller keeps must not pin a 64 KiB read buffer. An answer
  // type without bytes fields (a lease grant's, a revoke's) is decoded from the read itself.
  const codec = messageCodec(output);
  // Parts are views of the reads a large answer came in; a key kept from it pins one of them.
  if (Array.isArray(message)) return codec.decodeParts(message);
  const own =
    !codec.holdsInputViews || message.byteLength === message.buffer.byteLength ? message : copyBytes(message);
  return codec.decode(own);
}

// Response headers become Headers only when an interceptor looks at them.
class Response implements UnaryResponse {
  readonly stream = false as const;
  readonly service: UnaryRequest["service"];
  readonly method: UnaryRequest["method"];
  readonly message: UnaryResponse["message"];
  private readonly rawHeader: Http2Headers;
  private readonly rawTrailer: Http2Headers;
  private headerCache: Headers | undefined;
  private trailerCache: Headers | undefined;

  constructor(
    req: UnaryRequest,
    message: UnaryResponse["message"],
    header: Http2Headers,
    trailer: Http2Headers,
  ) {
    this.service = req.service;
    this.method = req.method;
    this.message = message;
    this.rawHeader = header;
    this.rawTrailer = trailer;
  }

  get header(): Headers {
    this.headerCache ??= toWebHeaders(this.rawHeader);
    return this.headerCache;
  }

  get trailer(): Headers {
    this.trailerCache ??= toWebHeaders(this.rawTrailer);
    return this.trailerCache;
  }
}
