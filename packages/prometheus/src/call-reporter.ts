import type { Counter, Histogram } from "prom-client";
import { type GrpcLabels, grpcCodeName } from "./grpc-labels.js";

/** The `grpc_client_*` metrics; a histogram is undefined when not enabled. */
export interface GrpcInstruments {
  started: Counter<string>;
  handled: Counter<string>;
  msgReceived: Counter<string>;
  msgSent: Counter<string>;
  handlingSeconds: Histogram<string> | undefined;
  msgRecvHandlingSeconds: Histogram<string> | undefined;
  msgSendHandlingSeconds: Histogram<string> | undefined;
}

/**
 * Reports one call: counts it as started when created and as handled at most once, whatever
 * mix of stream end, error and abort reaches it.
 */
export class CallReporter {
  readonly #instruments: GrpcInstruments;
  readonly #labels: GrpcLabels;
  readonly #startedAt = performance.now();
  #handled = false;

  constructor(instruments: GrpcInstruments, labels: GrpcLabels) {
    this.#instruments = instruments;
    this.#labels = labels;
    instruments.started.inc({ ...labels });
  }

  /** Whether the call has been counted as handled. */
  get handled(): boolean {
    return this.#handled;
  }

  /** A request message was handed over to the transport. */
  sentMessage(): void {
    this.#instruments.msgSent.inc({ ...this.#labels });
  }

  /** A response message arrived. */
  receivedMessage(): void {
    this.#instruments.msgReceived.inc({ ...this.#labels });
  }

  /** How long one write to a stream took, whether or not it succeeded. */
  observeSend(seconds: number): void {
    this.#instruments.msgSendHandlingSeconds?.observe({ ...this.#labels }, seconds);
  }

  /** How long one read from a stream waited, whether it gave a message, the end or an error. */
  observeReceive(seconds: number): void {
    this.#instruments.msgRecvHandlingSeconds?.observe({ ...this.#labels }, seconds);
  }

  /** The call finished with this status; later reports are ignored. */
  handle(code: number): void {
    if (this.#handled) return;
    this.#handled = true;
    this.#instruments.handled.inc({ ...this.#labels, grpc_code: grpcCodeName(code) });
    this.#instruments.handlingSeconds?.observe(
      { ...this.#labels },
      (performance.now() - this.#startedAt) / 1000,
    );
  }
}
