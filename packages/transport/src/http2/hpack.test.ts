import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { describe, it } from "node:test";
import {
  HeaderListTooLargeError,
  HpackDecoder,
  huffmanCodeLengths,
  huffmanDecode,
  staticTable,
} from "./hpack.js";
import { encodeHeaderBlock } from "./hpack-encoder.js";

function hex(text: string): Buffer {
  return Buffer.from(text.replaceAll(" ", ""), "hex");
}

// Entries in decoded order, so the test also holds the order of the fields.
function entries(headers: Record<string, string>): Array<[string, string]> {
  return Object.entries(headers);
}

function decodeError(decoder: HpackDecoder, block: string, message: RegExp): void {
  assert.throws(
    () => decoder.decode(hex(block)),
    (error: unknown) =>
      error instanceof Error && error.message.startsWith("hpack: ") && message.test(error.message),
  );
}

// [symbol, code, length] rows copied from RFC 7541 Appendix B, covering every code length.
const rfcCodes: Array<[number, number, number]> = [
  [0, 0x1ff8, 13],
  [1, 0x7fffd8, 23],
  [9, 0xffffea, 24],
  [10, 0x3ffffffc, 30],
  [11, 0xfffffe9, 28],
  [13, 0x3ffffffd, 30],
  [22, 0x3ffffffe, 30],
  [31, 0xffffffb, 28],
  [32, 0x14, 6],
  [33, 0x3f8, 10],
  [35, 0xffa, 12],
  [38, 0xf8, 8],
  [39, 0x7fa, 11],
  [48, 0x0, 5],
  [58, 0x5c, 7],
  [60, 0x7ffc, 15],
  [92, 0x7fff0, 19],
  [94, 0x3ffc, 14],
  [97, 0x3, 5],
  [122, 0x7b, 7],
  [127, 0xffffffc, 28],
  [128, 0xfffe6, 20],
  [129, 0x3fffd2, 22],
  [153, 0x1fffdc, 21],
  [192, 0x3ffffe0, 26],
  [199, 0x1ffffec, 25],
  [203, 0x7ffffde, 27],
  [249, 0xffffffe, 28],
  [254, 0x7fffff0, 27],
  [255, 0x3ffffee, 26],
];

// Packs codes MSB first and pads with ones, as an HPACK encoder does.
function packCodes(codes: Array<[number, number]>): Buffer {
  const bits = codes.map(([code, length]) => code.toString(2).padStart(length, "0")).join("");
  const padded = bits.padEnd(Math.ceil(bits.length / 8) * 8, "1");
  const out = Buffer.alloc(padded.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(padded.slice(i * 8, i * 8 + 8), 2);
  return out;
}

describe("huffman code", () => {
  it("has 257 lengths that form a complete prefix code (Kraft sum exactly 1)", () => {
    assert.equal(huffmanCodeLengths.length, 257);
    // Integer arithmetic: the sum of 2^(30 - length) must be exactly 2^30.
    const sum = huffmanCodeLengths.reduce((total, length) => total + 2 ** (30 - length), 0);
    assert.equal(sum, 2 ** 30);
    assert.equal(huffmanCodeLengths[256], 30);
  });

  for (const [symbol, code, length] of rfcCodes) {
    it(`decodes symbol ${symbol} from its RFC code ${code.toString(16)} [${length}]`, () => {
      assert.equal(huffmanDecode(packCodes([[code, length]])), String.fromCharCode(symbol));
    });
  }

  it("decodes all the sampled codes back to back", () => {
    const packed = packCodes(rfcCodes.map(([, code, length]) => [code, length]));
    assert.equal(huffmanDecode(packed), String.fromCharCode(...rfcCodes.map(([symbol]) => symbol)));
  });

  it("decodes the RFC's Appendix C strings", () => {
    const table: Array<[string, string]> = [
      ["f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"],
      ["a8eb 1064 9cbf", "no-cache"],
      ["25a8 49e9 5ba9 7d7f", "custom-key"],
      ["25a8 49e9 5bb8 e8b4 bf", "custom-value"],
      ["6402", "302"],
      ["aec3 771a 4b", "private"],
      ["d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"],
      ["", ""],
    ];
    for (const [coded, text] of table) assert.equal(huffmanDecode(hex(coded)), text);
  });

  it("rejects padding longer than 7 bits", () => {
    // "a" is 00011; a whole extra octet of ones after it is 11 padding bits.
    assert.throws(() => huffmanDecode(hex("1f ff")), /^Error: hpack: invalid Huffman padding/);
    assert.throws(() => huffmanDecode(hex("ff")), /^Error: hpack: invalid Huffman padding/);
  });

  it("rejects padding that is not all ones", () => {
    assert.throws(() => huffmanDecode(hex("18")), /^Error: hpack: invalid Huffman padding/);
    assert.throws(() => huffmanDecode(hex("1e")), /^Error: hpack: invalid Huffman padding/);
  });

  it("rejects an encoded EOS", () => {
    assert.throws(() => huffmanDecode(hex("ff ff ff ff")), /^Error: hpack: EOS/);
  });
});

describe("HpackDecoder: RFC 7541 Appendix C", () => {
  it("C.2.1 literal with indexing adds to the dynamic table", () => {
    const decoder = new HpackDecoder();
    const block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
    assert.deepEqual(entries(decoder.decode(hex(block))), [["custom-key", "custom-header"]]);
    assert.equal(decoder.tableSize, 55);
    assert.deepEqual(entries(decoder.decode(hex("be"))), [["custom-key", "custom-header"]]);
  });

  it("C.2.2 literal without indexing leaves the table empty", () => {
    const decoder = new HpackDecoder();
    const block = "040c 2f73 616d 706c 652f 7061 7468";
    assert.deepEqual(entries(decoder.decode(hex(block))), [[":path", "/sample/path"]]);
    assert.equal(decoder.tableLength, 0);
  });

  it("C.2.3 literal never indexed leaves the table empty", () => {
    const decoder = new HpackDecoder();
    const block = "1008 7061 7373 776f 7264 0673 6563 7265 74";
    assert.deepEqual(entries(decoder.decode(hex(block))), [["password", "secret"]]);
    assert.equal(decoder.tableLength, 0);
  });

  it("C.2.4 indexed field", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(entries(decoder.decode(hex("82"))), [[":method", "GET"]]);
    assert.equal(decoder.tableLength, 0);
  });

  const requests: Array<[Array<[string, string]>, number]> = [
    [
      [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/"],
        [":authority", "www.example.com"],
      ],
      57,
    ],
    [
      [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/"],
        [":authority", "www.example.com"],
        ["cache-control", "no-cache"],
      ],
      110,
    ],
    [
      [
        [":method", "GET"],
        [":scheme", "https"],
        [":path", "/index.html"],
        [":authority", "www.example.com"],
        ["custom-key", "custom-value"],
      ],
      164,
    ],
  ];
  const c3 = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
  ];
  const c4 = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
  ];
  for (const [section, blocks] of [
    ["C.3 requests without Huffman", c3],
    ["C.4 requests with Huffman", c4],
  ] as const) {
    it(`${section}, three on one decoder`, () => {
      const decoder = new HpackDecoder();
      blocks.forEach((block, i) => {
        const [expected, tableSize] = requests[i] as (typeof requests)[number];
        assert.deepEqual(entries(decoder.decode(hex(block))), expected, `request ${i + 1}`);
        assert.equal(decoder.tableSize, tableSize, `table size after request ${i + 1}`);
        assert.equal(decoder.tableLength, i + 1);
      });
    });
  }

  const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
  const location = "https://www.example.com";
  const responses: Array<[Array<[string, string]>, number, number]> = [
    [
      [
        [":status", "302"],
        ["cache-control", "private"],
        ["date", date1],
        ["location", location],
      ],
      222,
      4,
    ],
    [
      [
        [":status", "307"],
        ["cache-control", "private"],
        ["date", date1],
        ["location", location],
      ],
      222,
      4,
    ],
    [
      [
        [":status", "200"],
        ["cache-control", "private"],
        ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
        ["location", location],
        ["content-encoding", "gzip"],
        ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
      ],
      215,
      3,
    ],
  ];
  const c5 = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 " +
      "3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 " +
      "7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 " +
      "6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
  ];
  const c6 = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad " +
      "1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 " +
      "e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
  ];
  for (const [section, blocks] of [
    ["C.5 responses without Huffman", c5],
    ["C.6 responses with Huffman", c6],
  ] as const) {
    it(`${section}, 256-octet table with eviction`, () => {
      const decoder = new HpackDecoder(256);
      blocks.forEach((block, i) => {
        const [expected, tableSize, tableLength] = responses[i] as (typeof responses)[number];
        assert.deepEqual(entries(decoder.decode(hex(block))), expected, `response ${i + 1}`);
        assert.equal(decoder.tableSize, tableSize, `table size after response ${i + 1}`);
        assert.equal(decoder.tableLength, tableLength, `table entries after response ${i + 1}`);
      });
      // After C.x.3 the table holds set-cookie (62), content-encoding (63), date (64); 65 was evicted.
      assert.deepEqual(entries(decoder.decode(hex("bf"))), [["content-encoding", "gzip"]]);
      decodeError(decoder, "c1", /index 65 beyond the table/);
    });
  }
});

describe("HpackDecoder", () => {
  it("joins repeated names with a comma and keeps pseudo-headers", () => {
    const decoder = new HpackDecoder();
    // :status 200, then "via: a" and "via: b" as literals without indexing on static name 60.
    const block = Buffer.concat([hex("88"), hex("0f2d 0161"), hex("0f2d 0162")]);
    assert.deepEqual(entries(decoder.decode(block)), [
      [":status", "200"],
      ["via", "a, b"],
    ]);
  });

  it("returns an object without a prototype, so odd names stay plain keys", () => {
    const decoder = new HpackDecoder();
    const headers = decoder.decode(encodeHeaderBlock([["__proto__", "x"]]));
    assert.equal(Object.getPrototypeOf(headers), null);
    assert.deepEqual(entries(headers), [["__proto__", "x"]]);
  });

  it("accepts a Uint8Array that is not a Buffer, at an offset", () => {
    const bytes = new Uint8Array([0xaa, 0x82, 0x86]).subarray(1);
    assert.deepEqual(entries(new HpackDecoder().decode(bytes)), [
      [":method", "GET"],
      [":scheme", "http"],
    ]);
  });

  it("applies a size update: shrinking evicts, and entries larger than the table empty it", () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert.equal(decoder.tableLength, 1);
    // Size update to 0 evicts everything; a later update back up to 4096 is allowed.
    decoder.decode(hex("20"));
    assert.equal(decoder.tableLength, 0);
    decoder.decode(hex("3fe1 1f"));
    // Size 54 cannot hold the 55-octet custom-key entry: it is decoded but not stored.
    decoder.decode(hex("3f17"));
    const block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
    assert.deepEqual(entries(decoder.decode(hex(block))), [["custom-key", "custom-header"]]);
    assert.equal(decoder.tableLength, 0);
    assert.equal(decoder.tableSize, 0);
  });

  it("keeps entries in order while its ring wraps and then grows", () => {
    const decoder = new HpackDecoder(4096);
    // "via: NNN" entries of 3 + 3 + 32 = 38 octets. A 608-octet table (16 entries) wraps the ring
    // first; the full 4096 octets (107 entries) then make it grow while wrapped, and evict again.
    const model: string[] = [];
    for (let i = 0; i < 250; i++) {
      const limit = i < 40 ? 608 : 4096;
      if (i === 0) decoder.decode(hex("3f c1 04")); // size update to 608
      if (i === 40) decoder.decode(hex("3f e1 1f")); // size update to 4096
      const value = String(i).padStart(3, "0");
      const block = Buffer.concat([hex("7c 03"), Buffer.from(value, "latin1")]);
      assert.deepEqual(entries(decoder.decode(block)), [["via", value]]);
      model.unshift(value);
      model.length = Math.min(model.length, Math.floor(limit / 38));
      assert.equal(decoder.tableLength, model.length);
      assert.equal(decoder.tableSize, model.length * 38);
      model.forEach((expected, age) => {
        // Index 62 + age, as a 7-bit prefix integer (127 plus a continuation octet past it).
        const index = 62 + age;
        const indexed = index < 127 ? Buffer.from([0x80 | index]) : Buffer.from([0xff, index - 127]);
        assert.deepEqual(entries(decoder.decode(indexed)), [["via", expected]], `age ${age} after ${i}`);
      });
    }
  });

  it("keeps entries in order through ring wrap-around in a small table", () => {
    const decoder = new HpackDecoder(128);
    for (let i = 0; i < 50; i++) {
      // literal with indexing, static name "via" (60), value of 1 octet: 3 + 1 + 32 = 36 octets each.
      const value = String.fromCharCode(0x41 + (i % 26));
      assert.deepEqual(entries(decoder.decode(Buffer.from([0x7c, 0x01, value.charCodeAt(0)]))), [
        ["via", value],
      ]);
      assert.equal(decoder.tableLength, Math.min(i + 1, 3));
      assert.deepEqual(entries(decoder.decode(hex("be"))), [["via", value]]);
      if (i >= 2) {
        const oldest = String.fromCharCode(0x41 + ((i - 2) % 26));
        assert.deepEqual(entries(decoder.decode(hex("c0"))), [["via", oldest]]);
      }
    }
  });

  it("rejects index 0", () => {
    decodeError(new HpackDecoder(), "80", /index 0/);
  });

  it("rejects an index beyond the static and dynamic tables", () => {
    decodeError(new HpackDecoder(), "be", /index 62 beyond the table/);
    // A literal whose name index is out of range.
    decodeError(new HpackDecoder(), "7f 00 01 61", /index 63 beyond the table/);
  });

  it("rejects truncated blocks", () => {
    decodeError(new HpackDecoder(), "400a 6375", /truncated string/);
    decodeError(new HpackDecoder(), "40", /truncated block/);
    decodeError(new HpackDecoder(), "04", /truncated block/);
    decodeError(new HpackDecoder(), "ff", /truncated integer/);
    decodeError(new HpackDecoder(), "ff 80", /truncated integer/);
  });

  it("rejects integer overflow", () => {
    decodeError(new HpackDecoder(), "ff ff ff ff ff ff 0f", /integer overflow/);
    decodeError(new HpackDecoder(), "ff ff ff ff ff 7f", /integer overflow/);
    decodeError(new HpackDecoder(), "0f 80 80 80 80 80 80 80 00", /integer overflow/);
  });

  it("rejects a size update above the maximum, or after a header field", () => {
    decodeError(new HpackDecoder(256), "3fe2 01", /size update 257 above the maximum 256/);
    decodeError(new HpackDecoder(), "3fe2 1f", /size update 4097 above the maximum 4096/);
    decodeError(new HpackDecoder(), "82 20", /size update after a header field/);
  });

  it("rejects bad Huffman strings inside a block", () => {
    decodeError(new HpackDecoder(), "0f 2d 82 1f ff", /invalid Huffman padding/);
    decodeError(new HpackDecoder(), "0f 2d 81 18", /invalid Huffman padding/);
    decodeError(new HpackDecoder(), "0f 2d 84 ff ff ff ff", /EOS/);
  });

  it("stays usable after a rejected block", () => {
    const decoder = new HpackDecoder();
    decodeError(decoder, "80", /index 0/);
    assert.deepEqual(entries(decoder.decode(hex("82"))), [[":method", "GET"]]);
  });
});

const grpcRequest: Array<[string, string]> = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/etcdserverpb.KV/Put"],
  [":authority", "127.0.0.1:2379"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ["user-agent", "etcd-connect/0.1"],
  ["grpc-timeout", "100m"],
  ["authorization", "sometoken"],
];

describe("encodeHeaderBlock", () => {
  it("encodes fully matching static entries as one octet", () => {
    assert.deepEqual(encodeHeaderBlock([[":method", "POST"]]), hex("83"));
    assert.deepEqual(encodeHeaderBlock([[":scheme", "http"]]), hex("86"));
    assert.deepEqual(encodeHeaderBlock([[":scheme", "https"]]), hex("87"));
    assert.deepEqual(encodeHeaderBlock([["accept-encoding", "gzip, deflate"]]), hex("90"));
  });

  it("uses the static name index, or a literal name, without indexing", () => {
    // :path (4) with a literal value; then a name outside the static table.
    assert.deepEqual(encodeHeaderBlock([[":path", "/a"]]), hex("04 02 2f61"));
    assert.deepEqual(encodeHeaderBlock([["te", "trailers"]]), hex("00 02 7465 08 7472 6169 6c65 7273"));
    // user-agent is index 58: past the 4-bit prefix, so 0f then 58 - 15 = 43.
    assert.deepEqual(encodeHeaderBlock([["user-agent", "x"]]), hex("0f2b 0178"));
  });

  it("encodes long strings with multi-octet lengths", () => {
    const value = "v".repeat(300);
    const block = encodeHeaderBlock([["x-long", value]]);
    assert.deepEqual(block.subarray(0, 8), hex("00 06 782d 6c6f 6e67"));
    // 300 = 127 + 173: 7f, then 173 = 0xad -> (0x2d | 0x80), 0x01.
    assert.deepEqual(block.subarray(8, 11), hex("7f ad 01"));
    assert.deepEqual(entries(new HpackDecoder().decode(block)), [["x-long", value]]);
  });

  it("round-trips a gRPC request through HpackDecoder", () => {
    for (const [name] of grpcRequest) assert.equal(name, name.toLowerCase());
    const block = encodeHeaderBlock(grpcRequest);
    assert.equal(block[0], 0x83);
    const decoder = new HpackDecoder();
    assert.deepEqual(entries(decoder.decode(block)), grpcRequest);
    assert.equal(decoder.tableLength, 0, "the encoder must never add to the peer's table");
  });

  it("returns a block of its own, not a view of reused memory", () => {
    const first = encodeHeaderBlock([["x-a", "1"]]);
    const copy = Buffer.from(first);
    encodeHeaderBlock([["x-b", "2".repeat(5000)]]);
    assert.deepEqual(first, copy);
  });

  it("accepts any iterable, such as a Map", () => {
    const headers = new Map([
      [":method", "POST"],
      ["x-k", "v"],
    ]);
    assert.deepEqual(entries(new HpackDecoder().decode(encodeHeaderBlock(headers))), [...headers]);
  });

  it("knows the 61 static entries", () => {
    assert.equal(staticTable.length, 61);
    staticTable.forEach(([name, value], i) => {
      assert.deepEqual(encodeHeaderBlock([[name, value]]), Buffer.from([0x80 | (i + 1)]));
    });
  });
});

// A minimal HTTP/2 client over a raw socket: enough to send requests encoded by encodeHeaderBlock and to
// collect every response header block, decoded by one HpackDecoder in the order received.
const frameType = { data: 0, headers: 1, rstStream: 3, settings: 4, ping: 6, goaway: 7, continuation: 9 };
const flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 };

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface PendingStream {
  blocks: Array<Record<string, string>>;
  endStream: boolean;
  resolve: (blocks: Array<Record<string, string>>) => void;
  reject: (error: Error) => void;
}

class RawHttp2Client {
  readonly decoder = new HpackDecoder();
  /** Frame types in arrival order, to show that CONTINUATION really occurred. */
  readonly seenTypes: number[] = [];
  private readonly streams = new Map<number, PendingStream>();
  private buffered = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentStream = 0;
  private readonly socket: net.Socket;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.failAll(error));
    socket.on("close", () => this.failAll(new Error("socket closed")));
    socket.write(
      Buffer.concat([
        Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
        frame(frameType.settings, 0, 0),
      ]),
    );
  }

  /** Sends a request without a body; resolves with the decoded header blocks of the response. */
  request(streamId: number, headers: Array<[string, string]>): Promise<Array<Record<string, string>>> {
    return new Promise((resolve, reject) => {
      this.streams.set(streamId, { blocks: [], endStream: false, resolve, reject });
      const block = encodeHeaderBlock(headers);
      this.socket.write(frame(frameType.headers, flag.endStream | flag.endHeaders, streamId, block));
    });
  }

  private failAll(error: Error): void {
    for (const stream of this.streams.values()) stream.reject(error);
    this.streams.clear();
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 9) {
      const length = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < 9 + length) return;
      const type = this.buffered[3] as number;
      const flags = this.buffered[4] as number;
      const streamId = this.buffered.readUInt32BE(5) & 0x7fffffff;
      const payload = this.buffered.subarray(9, 9 + length);
      this.buffered = this.buffered.subarray(9 + length);
      this.seenTypes.push(type);
      try {
        this.onFrame(type, flags, streamId, payload);
      } catch (error) {
        this.failAll(error as Error);
      }
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    switch (type) {
      case frameType.settings:
        if (!(flags & flag.ack)) this.socket.write(frame(frameType.settings, flag.ack, 0));
        return;
      case frameType.ping:
        if (!(flags & flag.ack)) this.socket.write(frame(frameType.ping, flag.ack, 0, payload));
        return;
      case frameType.headers: {
        let fragment = payload;
        if (flags & flag.padded) fragment = fragment.subarray(1, fragment.length - (fragment[0] as number));
        if (flags & flag.priority) fragment = fragment.subarray(5);
        const stream = this.streams.get(streamId);
        if (stream && flags & flag.endStream) stream.endStream = true;
        this.fragments = [fragment];
        this.fragmentStream = streamId;
        if (flags & flag.endHeaders) this.endHeaderBlock();
        return;
      }
      case frameType.continuation:
        assert.equal(streamId, this.fragmentStream, "CONTINUATION on another stream");
        this.fragments.push(payload);
        if (flags & flag.endHeaders) this.endHeaderBlock();
        return;
      case frameType.data:
        if (flags & flag.endStream) this.endStream(streamId);
        return;
      case frameType.rstStream:
      case frameType.goaway:
        throw new Error(`server sent frame type ${type} with ${payload.toString("hex")}`);
    }
  }

  private endHeaderBlock(): void {
    // Decode every block, even of unknown streams: skipping one would desynchronize the table.
    const headers = this.decoder.decode(Buffer.concat(this.fragments));
    this.fragments = [];
    const stream = this.streams.get(this.fragmentStream);
    if (!stream) return;
    stream.blocks.push(headers);
    if (stream.endStream) this.endStream(this.fragmentStream);
  }

  private endStream(streamId: number): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    this.streams.delete(streamId);
    stream.resolve(stream.blocks);
  }
}

function requestHeaders(path: string): Array<[string, string]> {
  return grpcRequest.map(([name, value]): [string, string] => [name, name === ":path" ? path : value]);
}

// Every octet node:http2 accepts in a value; each is surrounded by "a"s (5-bit codes) so that nghttp2
// picks Huffman coding even for the 28-bit codes.
const octets = [0x09, ...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x20 + i)].concat(
  Array.from({ length: 0x80 }, (_, i) => 0x80 + i),
);
const everyOctetHeaders = Object.fromEntries(
  octets.map((octet) => [
    `x-octet-${octet.toString(16)}`,
    `aaaaaaaaaa${String.fromCharCode(octet)}aaaaaaaaaa`,
  ]),
);

describe("HpackDecoder against node:http2's encoder (Huffman, dynamic table)", () => {
  it("decodes headers and trailers of several responses on one connection", async (t) => {
    const responses: Record<string, http2.OutgoingHttpHeaders> = {
      "/etcdserverpb.KV/Put": {
        "content-type": "application/grpc",
        "grpc-encoding": "identity",
        "x-request-id": "c0ffee-0001",
        "x-latin1": "caf\u00e9 \u0080\u00ff",
        server: "test/1.0",
      },
      "/etcdserverpb.KV/Range": {
        "content-type": "application/grpc",
        "grpc-encoding": "identity",
        "x-request-id": "c0ffee-0002",
        "x-big": "0123456789abcdef".repeat(1500),
        server: "test/1.0",
      },
      "/etcdserverpb.KV/DeleteRange": { "content-type": "application/grpc", ...everyOctetHeaders },
    };
    const trailers = { "grpc-status": "0", "grpc-message": "ok%20done" };

    const server = http2.createServer();
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on("session", (session) => sessions.add(session));
    server.on("stream", (stream, headers) => {
      const response = responses[headers[":path"] as string];
      if (!response) {
        stream.respond({ ":status": 404 });
        stream.end();
        return;
      }
      stream.respond({ ":status": 200, ...response }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end("body");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
    t.after(async () => {
      socket.destroy();
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    await once(socket, "connect");
    const client = new RawHttp2Client(socket);

    let streamId = 1;
    for (const [path, response] of Object.entries(responses)) {
      const blocks = await client.request(streamId, requestHeaders(path));
      assert.equal(blocks.length, 2, `${path}: headers and trailers`);
      const [headers, received] = blocks as [Record<string, string>, Record<string, string>];
      assert.match(headers.date ?? "", / GMT$/, `${path}: node adds a date`);
      const expected = { ":status": "200", ...response, date: headers.date };
      assert.deepEqual({ ...headers }, expected, `${path}: headers`);
      assert.deepEqual({ ...received }, trailers, `${path}: trailers`);
      streamId += 2;
    }
    // Node indexed what it sent, so later responses referred to entries of earlier ones.
    assert.ok(client.decoder.tableLength > 0);
    assert.ok(client.seenTypes.includes(frameType.continuation), "the big header needs CONTINUATION");
  });
});

describe("HpackDecoder header list limit", () => {
  // One literal with incremental indexing (name "x", a 4,000-byte value), then `refs` references
  // to it (index 62, the newest dynamic entry): the HPACK bomb of a few bytes per 4 KB field.
  function bomb(refs: number): Buffer {
    const value = "v".repeat(4000);
    const literal = Buffer.concat([
      Buffer.from([0x40, 0x01, 0x78, 0x7f]),
      // 4000 - 127 = 3873 as an HPACK integer continuation: 0xa1 0x1e.
      Buffer.from([0xa1, 0x1e]),
      Buffer.from(value, "latin1"),
    ]);
    return Buffer.concat([literal, Buffer.alloc(refs, 0xbe)]);
  }

  it("throws HeaderListTooLargeError past the limit, having counted sizes without building the list", () => {
    const decoder = new HpackDecoder();
    const error = (() => {
      try {
        decoder.decode(bomb(130_000), 65_536);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof HeaderListTooLargeError);
    // 130,001 fields of 4,033 octets each: counted, not joined into a 520 M character string.
    assert.equal(error.size, 130_001 * 4033);
  });

  it("stays in step with the peer's table after a refused block", () => {
    const decoder = new HpackDecoder();
    assert.throws(() => decoder.decode(bomb(100), 65_536), HeaderListTooLargeError);
    const next = decoder.decode(Buffer.from([0xbe]), 65_536);
    assert.equal(next.x?.length, 4000);
  });

  it("accepts a list up to the limit", () => {
    const decoder = new HpackDecoder();
    const headers = decoder.decode(bomb(14), 65_536);
    assert.equal(headers.x?.length, 15 * 4000 + 14 * 2);
  });
});
