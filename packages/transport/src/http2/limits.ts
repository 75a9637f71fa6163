// What one HTTP/2 connection accepts from its peer. Each bound is a named constant with the
// reason for its value; the client README's "Limits and threat model" lists them, and the
// adversarial peer tests (test/adversarial/) cross each one.

/** Largest frame payload we accept: HTTP/2's default SETTINGS_MAX_FRAME_SIZE, never raised. */
export const maxFrameSize = 16_384;

/**
 * SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce: the decoded size of one header block
 * (name + value + 32 octets per field, RFC 9113 §6.5.2). gRPC answers carry a few hundred octets;
 * grpc-core refuses metadata past 16 KiB by default. A block past it fails its stream only.
 */
export const maxHeaderListSize = 64 << 10;

/**
 * Largest compressed header block (HEADERS plus CONTINUATION payloads). A real block is not
 * larger than the list it decodes to; past this the connection is closed.
 */
export const maxHeaderBlockSize = 64 << 10;

/**
 * CONTINUATION frames allowed in one header block, as nghttp2 allows (its max_continuations,
 * added for CVE-2024-27316's CONTINUATION flood): zero-length frames are counted too.
 */
export const maxContinuationFrames = 8;

/**
 * Answers to the peer's frames (PING and SETTINGS acknowledgements, RST_STREAM for its stream
 * errors) that may wait for a socket the peer does not read. nghttp2 closes the connection past
 * 1,000 such queued frames; so do we.
 */
export const maxQueuedControlFrames = 1000;

/**
 * Entries in one SETTINGS frame. HTTP/2 defines six settings; a frame of 16 KiB could carry
 * 2,730 entries for us to apply and acknowledge. nghttp2 refuses more than 32 (its max_settings,
 * CVE-2020-11080); so do we, with ENHANCE_YOUR_CALM.
 */
export const maxSettingsEntries = 32;

/**
 * Frames in a row that carry nothing for an open stream: DATA with neither payload nor END_STREAM,
 * PRIORITY (the client sets no priorities), unknown types, empty DATA, HEADERS and WINDOW_UPDATE
 * for a stream the client no longer tracks, SETTINGS ACKs and ACKs of PINGs it did not send. Only a
 * HEADERS frame or a DATA frame with payload or END_STREAM for an open stream starts the count
 * again. Each costs a parse and passes for a sign of life; a peer can send 1,820 of them in 16 KiB.
 * nghttp2 under Node counts empty DATA frames (the "empty frames flood", CVE-2019-9518; Node's
 * maxSessionInvalidFrames, 1,000) over the session's life; we count them in a row, as SwiftNIO
 * does, so a server that mixes a few among its answers is never refused: past 1,000 in a row,
 * ENHANCE_YOUR_CALM.
 */
export const maxEmptyFramesInARow = 1000;

/**
 * Bytes of frames that may wait for a socket the peer does not read. Our DATA is bounded by the
 * peer's windows, which the peer sets (up to 2 GiB), and calls go on being made and cancelled
 * meanwhile: without a bound, a peer that grants large windows and stops reading (while
 * sending something now and then, so it looks alive) has our memory grow by every call. A live
 * etcd's windows grow to 16 MiB (grpc-go's BDP limit), so 64 MiB waiting means a peer that has
 * stopped reading: the connection is closed (Unavailable) and its calls go elsewhere.
 */
export const maxQueuedWriteBytes = 64 << 20;

/** A connection's receive window: a unary answer of a few MiB needs no round trip. */
export const connectionWindow = 16 << 20;

/** A stream's receive window; see {@link connectionWindow}. */
export const streamWindow = 4 << 20;
