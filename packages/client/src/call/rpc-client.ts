import type {
  DescMessage,
  DescMethodBiDiStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import {
  type CallOptions,
  type Client as ConnectClient,
  createClient as createConnectClient,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { type PollableIterator, poll, pollSymbol } from "@etcd-connect/transport";

/**
 * Connect's generated client for `service`, with lean unary calls and server and bidi streams.
 * Connect hands a stream's messages through an async generator (compiled down to helper
 * functions), which costs several promises per message: most of the CPU of 1,000 kept leases went
 * there. Here the transport's own message iterator is handed out as it is, between the response's
 * headers and its trailers. A unary call takes its message from the transport's promise with one
 * `then`, where Connect's async function adds a suspended frame and a promise per call (about 450
 * of the 5,400 bytes a put allocated). `onHeader` and `onTrailer` are called as Connect calls them.
 * Client streaming calls are Connect's own.
 */
export function createRpcClient<S extends DescService>(service: S, transport: Transport): ConnectClient<S> {
  const client = createConnectClient(service, transport) as Record<string, unknown>;
  for (const method of service.methods) {
    if (method.methodKind === "unary") {
      client[method.localName] = (input: MessageInitShape<DescMessage>, options?: CallOptions) =>
        callUnary(transport, method as DescMethodUnary, input, options);
    } else if (method.methodKind === "server_streaming") {
      client[method.localName] = (input: MessageInitShape<DescMessage>, options?: CallOptions) =>
        new StreamMessages(
          openStream(transport, method as DescMethodServerStreaming, oneMessage(input), options),
          options,
        );
    } else if (method.methodKind === "bidi_streaming") {
      client[method.localName] = (
        input: AsyncIterable<MessageInitShape<DescMessage>>,
        options?: CallOptions,
      ) =>
        new StreamMessages(openStream(transport, method as DescMethodBiDiStreaming, input, options), options);
    }
  }
  return client as ConnectClient<S>;
}

// Not an async function, as Connect's is: the message is taken in one `then`. Like Connect's, it
// never throws: a transport that throws (a custom one) makes a rejection.
function callUnary(
  transport: Transport,
  method: DescMethodUnary,
  input: MessageInitShape<DescMessage>,
  options: CallOptions | undefined,
): Promise<MessageShape<DescMessage>> {
  let response: Promise<UnaryResponse<DescMessage, DescMessage>>;
  try {
    response = transport.unary(
      method,
      options?.signal,
      options?.timeoutMs,
      options?.headers,
      input,
      options?.contextValues,
    );
  } catch (error) {
    return Promise.reject(error);
  }
  if (options?.onHeader === undefined && options?.onTrailer === undefined) return response.then(messageOf);
  return response.then((answer) => {
    options.onHeader?.(answer.header);
    options.onTrailer?.(answer.trailer);
    return answer.message;
  });
}

function messageOf(response: UnaryResponse<DescMessage, DescMessage>): MessageShape<DescMessage> {
  return response.message;
}

function openStream(
  transport: Transport,
  method: DescMethodServerStreaming | DescMethodBiDiStreaming,
  input: AsyncIterable<MessageInitShape<DescMessage>>,
  options: CallOptions | undefined,
): Promise<StreamResponse<DescMessage, DescMessage>> {
  return transport.stream(
    method,
    options?.signal,
    options?.timeoutMs,
    options?.headers,
    input,
    options?.contextValues,
  ) as Promise<StreamResponse<DescMessage, DescMessage>>;
}

async function* oneMessage<T>(message: T): AsyncIterable<T> {
  yield message;
}

/**
 * A stream's messages, iterated once: the iterable is its own iterator and has no `return` or
 * `throw`, as Connect's is.
 */
class StreamMessages
  implements AsyncIterable<MessageShape<DescMessage>>, PollableIterator<MessageShape<DescMessage>>
{
  private readonly response: Promise<StreamResponse<DescMessage, DescMessage>>;
  private readonly options: CallOptions | undefined;
  private messages: AsyncIterator<MessageShape<DescMessage>> | undefined;
  private trailer: Headers | undefined;

  constructor(response: Promise<StreamResponse<DescMessage, DescMessage>>, options: CallOptions | undefined) {
    this.response = response;
    this.options = options;
    // An error before the first read is the first read's: not an unhandled rejection meanwhile.
    response.catch(() => {});
  }

  [Symbol.asyncIterator](): AsyncIterator<MessageShape<DescMessage>> {
    return this;
  }

  next(): Promise<IteratorResult<MessageShape<DescMessage>>> {
    const messages = this.messages;
    if (messages === undefined) return this.response.then((response) => this.begin(response));
    // The common case: the transport's own promise, no hop of ours, unless trailers are watched.
    return this.options?.onTrailer === undefined ? messages.next() : messages.next().then(this.ended);
  }

  /** A message the transport holds now (once the stream has answered): no promise for it. */
  [pollSymbol](): IteratorResult<MessageShape<DescMessage>> | undefined {
    const messages = this.messages;
    if (messages === undefined) return undefined;
    const result = poll(messages);
    return result === undefined || this.options?.onTrailer === undefined ? result : this.ended(result);
  }

  private begin(response: StreamResponse<DescMessage, DescMessage>) {
    this.options?.onHeader?.(response.header);
    this.trailer = response.trailer;
    this.messages = response.message[Symbol.asyncIterator]();
    return this.next();
  }

  private readonly ended = (result: IteratorResult<MessageShape<DescMessage>>) => {
    if (result.done === true) this.options?.onTrailer?.(this.trailer as Headers);
    return result;
  };
}
