import { connect, createServer, type Server, type Socket } from "node:net";
import { keepAlive } from "./keep-alive.js";

/** Options for {@link createFaultProxy}. */
export interface FaultProxyOptions {
  /** Where every accepted connection is forwarded. */
  target: { host: string; port: number };
  /** Port to listen on. Default: `0`, an unused port chosen by the system. */
  listenPort?: number;
  /** Address to listen on. Default: `"127.0.0.1"`. */
  listenHost?: string;
  /**
   * Names a connection after the bytes its client sent first, so faults can target it (see
   * {@link FaultProxy.blackhole}). Called with everything the client sent so far, up to 16 KiB, until it
   * returns a label. Default: connections stay unlabelled.
   */
  classify?: (head: Buffer) => string | undefined;
}

/** Options for {@link FaultProxy.blackhole}. */
export interface BlackholeOptions {
  /** Only connections with this label (from `classify`). Default: every connection. */
  label?: string;
}

/** Options for {@link FaultProxy.heal}. */
export interface HealOptions {
  /**
   * Also reset (RST) every connection that lost bytes while black-holed, because a byte stream with a gap
   * is rarely usable and peers reconnect faster after a reset than after a read timeout. Default: `false`.
   */
  resetBlackholed?: boolean;
}

const classifyLimit = 16 * 1024;

interface Flow {
  readonly from: Socket;
  readonly to: Socket;
  /** Chunks waiting out the delay; `null` stands for the end of the stream. */
  readonly queue: { due: number; chunk: Buffer | null }[];
  timer: NodeJS.Timeout | undefined;
  awaitingDrain: boolean;
}

interface Link {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly up: Flow;
  readonly down: Flow;
  label: string | undefined;
  head: Buffer | undefined;
  lostBytes: boolean;
  /** A side failed while black-holed; the other side learns of it on heal(). */
  failedUnseen: boolean;
  closed: number;
}

/**
 * Creates a {@link FaultProxy} listening on `127.0.0.1` (by default) and forwarding to `options.target`.
 *
 * @example
 * const proxy = await createFaultProxy({ target: { host: "127.0.0.1", port: 2379 } });
 * proxy.blackhole(); // requests through proxy.url now hang
 * proxy.heal();
 */
export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const proxy = new FaultProxy(server, options);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.listenPort ?? 0, host: options.listenHost ?? "127.0.0.1" }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // A forgotten proxy must not keep a test process alive.
  server.unref();
  return proxy;
}

/**
 * A TCP proxy that injects network faults between clients and a target: black holes, resets and latency.
 * Create it with {@link createFaultProxy}. Faults apply to current and future connections until
 * {@link FaultProxy.heal}.
 */
export class FaultProxy {
  /** Where connections are forwarded. */
  readonly target: { readonly host: string; readonly port: number };
  readonly #server: Server;
  readonly #classify: ((head: Buffer) => string | undefined) | undefined;
  readonly #links = new Set<Link>();
  readonly #blackholedLabels = new Set<string>();
  #blackholeAll = false;
  #delayMs = 0;
  #droppedBytes = 0;
  #closed = false;

  /** @internal Use {@link createFaultProxy}. */
  constructor(server: Server, options: FaultProxyOptions) {
    this.#server = server;
    this.target = { host: options.target.host, port: options.target.port };
    this.#classify = options.classify;
    server.on("connection", (socket) => this.#accept(socket));
  }

  /** The address the proxy listens on. */
  get host(): string {
    const address = this.#server.address();
    return address !== null && typeof address === "object" ? address.address : "";
  }

  /** The port the proxy listens on. */
  get port(): number {
    const address = this.#server.address();
    return address !== null && typeof address === "object" ? address.port : 0;
  }

  /** `host:port` of the proxy, ready for a URL. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Open connections through the proxy. */
  get connections(): number {
    return this.#links.size;
  }

  /** Bytes black holes have dropped so far, both directions, over the proxy's lifetime. */
  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** The current delay added to each chunk, in ms. */
  get delayMs(): number {
    return this.#delayMs;
  }

  /**
   * Silently drops every byte in both directions while keeping connections open, like a network partition:
   * peers see neither data nor a close. Applies to new connections too. With `label`, only to connections
   * that `classify` gave that label. Dropped bytes are gone for good.
   */
  blackhole(options: BlackholeOptions = {}): void {
    if (options.label === undefined) this.#blackholeAll = true;
    else this.#blackholedLabels.add(options.label);
  }

  /** Destroys every current connection with a TCP RST; new connections are accepted as usual. */
  reset(): void {
    for (const link of this.#links) this.#destroy(link);
  }

  /** Delays every chunk by `ms` in each direction, keeping their order. `0` removes the delay. */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay: expected ms >= 0, got ${ms}`);
    this.#delayMs = ms;
  }

  /** Back to plain pass-through: ends black holes and the delay. Bytes dropped earlier stay dropped. */
  heal(options: HealOptions = {}): void {
    this.#blackholeAll = false;
    this.#blackholedLabels.clear();
    this.#delayMs = 0;
    for (const link of this.#links) {
      if (link.failedUnseen || (options.resetBlackholed === true && link.lostBytes)) this.#destroy(link);
    }
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.reset();
    await keepAlive(closed);
  }

  #dropping(link: Link): boolean {
    return this.#blackholeAll || (link.label !== undefined && this.#blackholedLabels.has(link.label));
  }

  #accept(client: Socket): void {
    const upstream = connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    client.unref();
    upstream.unref();
    const link: Link = {
      client,
      upstream,
      up: { from: client, to: upstream, queue: [], timer: undefined, awaitingDrain: false },
      down: { from: upstream, to: client, queue: [], timer: undefined, awaitingDrain: false },
      label: undefined,
      head: this.#classify === undefined ? undefined : Buffer.alloc(0),
      lostBytes: false,
      failedUnseen: false,
      closed: 0,
    };
    this.#links.add(link);
    for (const [socket, flow] of [
      [client, link.up],
      [upstream, link.down],
    ] as const) {
      socket.setNoDelay(true);
      socket.on("data", (chunk: Buffer) => this.#onData(link, flow, chunk));
      socket.on("end", () => this.#onData(link, flow, null));
      // An error (refused, reset) resets the other side too, unless a black hole hides it until heal().
      // A clean close needs nothing: its end was forwarded like data.
      socket.on("error", () => {
        if (this.#dropping(link)) link.failedUnseen = true;
        else this.#destroy(link);
      });
      socket.on("close", () => {
        link.closed += 1;
        if (link.closed === 2) this.#links.delete(link);
      });
    }
    client.resume();
  }

  #onData(link: Link, flow: Flow, chunk: Buffer | null): void {
    if (chunk !== null && flow === link.up && link.head !== undefined) this.#label(link, chunk);
    if (this.#dropping(link)) {
      this.#drop(link, chunk);
      return;
    }
    if (this.#delayMs === 0 && flow.queue.length === 0) {
      this.#deliver(flow, chunk);
      return;
    }
    flow.queue.push({ due: Date.now() + this.#delayMs, chunk });
    if (flow.timer === undefined) this.#schedule(link, flow);
  }

  #label(link: Link, chunk: Buffer): void {
    const head = Buffer.concat([link.head ?? Buffer.alloc(0), chunk]);
    const label = this.#classify?.(head);
    if (label !== undefined) {
      link.label = label;
      link.head = undefined;
    } else {
      link.head = head.length >= classifyLimit ? undefined : head;
    }
  }

  #schedule(link: Link, flow: Flow): void {
    const next = flow.queue[0];
    if (next === undefined) {
      flow.timer = undefined;
      return;
    }
    flow.timer = setTimeout(
      () => {
        const now = Date.now();
        while (flow.queue[0] !== undefined && flow.queue[0].due <= now) {
          const item = flow.queue.shift();
          if (item === undefined) break;
          // Chunks queued before a black hole started are dropped too: the partition is in the network.
          if (this.#dropping(link)) this.#drop(link, item.chunk);
          else this.#deliver(flow, item.chunk);
        }
        this.#schedule(link, flow);
      },
      Math.max(0, next.due - Date.now()),
    );
  }

  #drop(link: Link, chunk: Buffer | null): void {
    link.lostBytes = true;
    this.#droppedBytes += chunk?.length ?? 0;
  }

  #deliver(flow: Flow, chunk: Buffer | null): void {
    if (flow.to.destroyed) return;
    if (chunk === null) {
      flow.to.end();
      return;
    }
    if (!flow.to.write(chunk) && !flow.awaitingDrain) {
      flow.awaitingDrain = true;
      flow.from.pause();
      flow.to.once("drain", () => {
        flow.awaitingDrain = false;
        flow.from.resume();
      });
    }
  }

  #destroy(link: Link): void {
    for (const flow of [link.up, link.down]) {
      clearTimeout(flow.timer);
      flow.timer = undefined;
      flow.queue.length = 0;
    }
    resetSocket(link.client);
    resetSocket(link.upstream);
  }
}

function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  // libuv refuses an RST while a shutdown (our end()) is in flight, and Node 20 then never closes the
  // handle, which hangs process exit; such a socket gets a plain destroy.
  if (socket.writableEnded && !socket.writableFinished) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    // resetAndDestroy needs a TCP handle; a socket that never connected has none.
    socket.destroy();
  }
}
