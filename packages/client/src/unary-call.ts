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
import { applyInterceptors, methodPath, startDeadline } from "./call-chain.js";
import { toWebHeaders } from "./http2-headers.js";
import type { Http2Headers } from "./http2-stream.js";
import { messageCodec } from "./message-codec.js";

/** The raw answer to one unary attempt. */
export interface UnaryAnswer {
  headers: Http2Headers;
  trailers: Http2Headers;
  /** The response body: one gRPC length-prefixed message. */
  body: Buffer;
}

/** One attempt's wire work, given an encoded request frame; see {@link createUnaryCall}. */
export type SendUnary = (req: UnaryRequest, frame: Uint8Array, path: string) => Promise<UnaryAnswer>;

/** Options of {@link createUnaryCall}. */
export interface UnaryCallOptions {
  interceptors: Interceptor[];
  readMaxBytes: number;
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
  const { send, readMaxBytes } = options;

  const next = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const method = req.method;
    const payload = messageCodec(method.input).encode(req.message);
    const frame = new Uint8Array(payload.length + 5);
    new DataView(frame.buffer).setUint32(1, payload.length);
    frame.set(payload, 5);
    const answer = await send(req, frame, methodPath(method));
    const message = decodeAnswer(method.output, answer, readMaxBytes);
    return new Response(req, message, answer.headers, answer.trailers);
  };
  const chain = applyInterceptors(options.interceptors, next);

  return async function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeadersInit | undefined,
    input: MessageInitShape<I>,
    contextValues?: ContextValues,
  ): Promise<UnaryResponse<I, O>> {
    const headers = new Headers(header);
    let callSignal = signal ?? neverSignal;
    let timer: NodeJS.Timeout | undefined;
    let controller: AbortController | undefined;
    let unlink: (() => void) | undefined;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      const deadline = startDeadline(headers, timeoutMs);
      controller = deadline.controller;
      timer = deadline.timer;
      const abort = controller;
      if (signal !== undefined) {
        if (signal.aborted) abort.abort(signal.reason);
        else {
          const follow = () => abort.abort(signal.reason);
          signal.addEventListener("abort", follow, { once: true });
          // Removed when the call ends: a long-lived caller signal must not collect listeners.
          unlink = () => signal.removeEventListener("abort", follow);
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
      contextValues: contextValues ?? createContextValues(),
      signal: callSignal,
      message: isMessage(input, method.input) ? (input as MessageShape<I>) : create(method.input, input),
    };
    try {
      // Even an already aborted call goes through the interceptors (metrics count it once);
      // the transport below sends nothing for it.
      return (await chain(req as unknown as UnaryRequest)) as unknown as UnaryResponse<I, O>;
    } catch (error) {
      throw callSignal.aborted ? abortError(callSignal) : ConnectError.from(error);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      unlink?.();
    }
  };
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

function decodeAnswer<O extends DescMessage>(
  output: O,
  answer: UnaryAnswer,
  readMaxBytes: number,
): MessageShape<O> {
  // A trailers-only answer carries the status in the headers.
  const status = answer.trailers["grpc-status"] ?? answer.headers["grpc-status"];
  const statusCode = status === undefined ? Number.NaN : Number(status);
  if (statusCode !== 0) {
    if (Number.isNaN(statusCode)) {
      throw new ConnectError("protocol error: missing grpc-status", Code.Unknown);
    }
    const raw = answer.trailers["grpc-message"] ?? answer.headers["grpc-message"];
    throw new ConnectError(decodeGrpcMessage(typeof raw === "string" ? raw : ""), statusCode as Code);
  }
  const body = answer.body;
  if (body.length < 5)
    throw new ConnectError("protocol error: missing output message for unary method", Code.Unknown);
  if ((body[0] as number) & 1)
    throw new ConnectError("protocol error: compressed message not accepted", Code.Internal);
  const length = body.readUInt32BE(1);
  if (length > readMaxBytes) {
    throw new ConnectError(
      `message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`,
      Code.ResourceExhausted,
    );
  }
  if (body.length !== length + 5) {
    throw new ConnectError("protocol error: unary answer is not exactly one message", Code.Unknown);
  }
  // A plain Uint8Array, not a Buffer: bytes fields come back as Uint8Array, as documented.
  // Decoded bytes fields are views into it, so an answer that shares a socket read with others
  // is copied out: a key the caller keeps must not pin a 64 KiB read buffer.
  const start = body.byteOffset + 5;
  const message =
    body.buffer.byteLength === length + 5
      ? new Uint8Array(body.buffer, start, length)
      : new Uint8Array(body.buffer.slice(start, start + length));
  return messageCodec(output).decode(message);
}

function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
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
