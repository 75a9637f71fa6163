import type { Http2Stream } from "./stream.js";

// Smallest capacity; a power of two, so a slot is the id's bits under a mask.
const minCapacity = 16;

/**
 * A session's open streams by id: an open-addressing hash table (linear probing, deletion by
 * backward shift) in one plain array.
 *
 * Not a `Map`, for the garbage collector's sake. A `Map` that keeps a few entries while many pass
 * through (a stream per unary call) rebuilds its table every few calls, and V8 leaves the entries
 * in the retired table (linked to its successor, for live iterators). A retired table in the old
 * generation counts as a root for every scavenge until the next full collection, so the streams
 * it still names, and their calls' objects, survive and are promoted. Measured at 16 callers
 * putting: about 1.1 KB of every call survived its first scavenge, 1.3 MB was promoted per
 * scavenge and each scavenge paused the calls for about 3 ms; with this table 80 bytes, 1 KB
 * and 0.6 ms. A retired array here is cleared, and so is a freed slot.
 */
export class StreamTable {
  private slots: (Http2Stream | undefined)[] = new Array(minCapacity).fill(undefined);
  private mask = minCapacity - 1;
  private count = 0;

  /** Streams in the table. */
  get size(): number {
    return this.count;
  }

  get(id: number): Http2Stream | undefined {
    const slots = this.slots;
    // Client stream ids are odd and consecutive: halved, they fill consecutive slots.
    for (let i = (id >>> 1) & this.mask; ; i = (i + 1) & this.mask) {
      const stream = slots[i];
      if (stream === undefined || stream.id === id) return stream;
    }
  }

  /** Adds a stream under its id, which must be set and not in the table. */
  add(stream: Http2Stream): void {
    // At most half full, so probes stay short and always end at a free slot.
    if ((this.count + 1) * 2 > this.slots.length) this.resize(this.slots.length * 2);
    this.place(stream);
    this.count++;
  }

  /** Removes the stream with this id; false if there is none. */
  delete(id: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    let i = (id >>> 1) & mask;
    for (;;) {
      const stream = slots[i];
      if (stream === undefined) return false;
      if (stream.id === id) break;
      i = (i + 1) & mask;
    }
    // Backward shift: an entry further along the probe run moves into the hole when its home
    // slot is not between the hole and itself, so every lookup still finds it without tombstones.
    let hole = i;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const stream = slots[j];
      if (stream === undefined) break;
      const home = (stream.id >>> 1) & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      slots[hole] = stream;
      hole = j;
    }
    slots[hole] = undefined;
    this.count--;
    // Shrinks after a burst, at an eighth full so that a steady load never resizes back and forth.
    if (this.slots.length > minCapacity && this.count * 8 < this.slots.length)
      this.resize(this.slots.length / 2);
    return true;
  }

  /**
   * Calls `test` on every stream, in no order, until it returns true; true when it did. Nothing
   * is allocated: `test` must not add or remove streams.
   */
  some(test: (stream: Http2Stream) => boolean): boolean {
    for (const stream of this.slots) if (stream !== undefined && test(stream)) return true;
    return false;
  }

  /** The streams in id order, as a new array: the table may change while the caller walks it. */
  list(): Http2Stream[] {
    const streams: Http2Stream[] = [];
    for (const stream of this.slots) if (stream !== undefined) streams.push(stream);
    return streams.sort((a, b) => a.id - b.id);
  }

  private place(stream: Http2Stream): void {
    const slots = this.slots;
    let i = (stream.id >>> 1) & this.mask;
    while (slots[i] !== undefined) i = (i + 1) & this.mask;
    slots[i] = stream;
  }

  private resize(capacity: number): void {
    const old = this.slots;
    this.slots = new Array(capacity).fill(undefined);
    this.mask = capacity - 1;
    for (const stream of old) if (stream !== undefined) this.place(stream);
    // The retired array may already be in the old generation: it must not keep streams alive.
    old.fill(undefined);
  }
}
