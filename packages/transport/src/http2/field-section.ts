import { type Http2Headers, malformedFields } from "./headers.js";

/**
 * A decoded header section and its verdicts under RFC 9113 §8.2-8.3, each worked out once. A
 * section the server repeats word for word (every etcd answer starts and ends alike) is decoded
 * and checked once per connection and then shared by the streams it answers, so its fields are
 * frozen.
 */
export class FieldSection {
  readonly headers: Http2Headers;
  private readonly pseudoAfterRegular: boolean;
  // null until asked: undefined is the verdict "well formed".
  private asResponse: string | undefined | null = null;
  private asTrailers: string | undefined | null = null;

  /** `pseudoAfterRegular`: the block put a pseudo-header after a regular field (see `DecodedBlock`). */
  constructor(headers: Http2Headers, pseudoAfterRegular: boolean) {
    this.headers = Object.freeze(headers);
    this.pseudoAfterRegular = pseudoAfterRegular;
  }

  /** Why the section is malformed as a response's headers (`response`) or as trailers, or undefined. */
  malformed(response: boolean): string | undefined {
    if (response) {
      if (this.asResponse === null)
        this.asResponse = malformedFields(this.headers, true, this.pseudoAfterRegular);
      return this.asResponse;
    }
    if (this.asTrailers === null)
      this.asTrailers = malformedFields(this.headers, false, this.pseudoAfterRegular);
    return this.asTrailers;
  }
}
