/**
 * A Connect `Transport` for gRPC over our own HTTP/2 framing, HPACK and compiled protobuf codec, bounded against hostile peers.
 *
 * @document ../README.md
 * @packageDocumentation
 * @module @etcd-connect/transport
 */

// @etcd-connect/transport: gRPC over our own HTTP/2 framing, under Connect's Transport interface.
// Layers, bottom up: http2/ (frames, HPACK, sessions, connections), grpc/ (envelopes, status,
// unary and streaming calls), codec/ (the compiled protobuf codec). It knows nothing of etcd.

export { allocBytes, utf8Bytes } from "./codec/byte-slab.js";
export { type MessageCodec, messageCodec } from "./codec/message-codec.js";
export {
  applyInterceptors,
  clampTimeoutMs,
  deadlineKey,
  maxTimeoutMs,
  methodPath,
  startDeadline,
} from "./grpc/call-chain.js";
export { encodeEnvelope, encodeEnveloped, envelopeHeaderBytes } from "./grpc/envelope.js";
export { EnvelopeReader, type EnvelopeSink } from "./grpc/envelope-reader.js";
export { createGrpcTransport, type GrpcTransport, type GrpcTransportOptions } from "./grpc/grpc-transport.js";
export { MessageSizeError } from "./grpc/message-size-error.js";
export { onAbort } from "./grpc/on-abort.js";
export { openUnary } from "./grpc/open-unary.js";
export { type PollableIterator, poll, pollSymbol } from "./grpc/pollable-iterator.js";
export { raceSignal } from "./grpc/race-signal.js";
export { grpcStatus } from "./grpc/status.js";
export {
  createStreamCall,
  type OpenStream,
  type StreamCallOptions,
} from "./grpc/stream-call.js";
export {
  abortError,
  createUnaryCall,
  neverSignal,
  type SendUnary,
  type UnaryAnswer,
  type UnaryCallOptions,
} from "./grpc/unary-call.js";
export { isGrpcAnswer, UnaryExchange, type UnaryExchangeHooks } from "./grpc/unary-exchange.js";
export {
  Http2Connection,
  type Http2ConnectionOptions,
  isTransientDialError,
  NotGrpcServerError,
} from "./http2/connection.js";
export { codeName, http2Code } from "./http2/error-codes.js";
export { extraHeaders, toWebHeaders } from "./http2/headers.js";
export {
  type DecodedBlock,
  HeaderListTooLargeError,
  HpackDecoder,
  huffmanCodeLengths,
} from "./http2/hpack.js";
export { encodeHeaderBlock, HpackEncoder } from "./http2/hpack-encoder.js";
export {
  connectionWindow,
  maxContinuationFrames,
  maxEmptyFramesInARow,
  maxFrameSize,
  maxHeaderBlockSize,
  maxHeaderListSize,
  maxQueuedControlFrames,
  maxQueuedWriteBytes,
  maxSettingsEntries,
  streamWindow,
} from "./http2/limits.js";
export { PingBudget, type ServerPingPolicy } from "./http2/ping-budget.js";
export { ReadSlab, readsIntoSlabs } from "./http2/read-slab.js";
export { RttEstimator, type RttEstimatorOptions } from "./http2/rtt-estimator.js";
export { maxServerTextLength, serverText } from "./http2/server-text.js";
export {
  type Http2Request,
  Http2Session,
  type Http2SessionEvents,
  type Http2SessionState,
} from "./http2/session.js";
export {
  type Http2Headers,
  Http2Stream,
  type Http2StreamHandler,
  type Http2StreamOwner,
} from "./http2/stream.js";
export { TypedConnectError } from "./http2/typed-connect-error.js";
export { isUnprocessed, UnprocessedStreamError, unprocessedError } from "./http2/unprocessed.js";
export { userAgent } from "./http2/user-agent.js";
