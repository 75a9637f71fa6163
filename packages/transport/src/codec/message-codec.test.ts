import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  create,
  createFileRegistry,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  fromBinary,
  type Message,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  FileDescriptorProtoSchema,
  file_google_protobuf_wrappers,
  isWrapperDesc,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
} from "@bufbuild/protobuf/wkt";
import { file_etcd_api_authpb_auth } from "@etcd-connect/api/authpb";
import {
  file_etcd_api_etcdserverpb_rpc,
  LeaseKeepAliveResponseSchema,
  PutRequestSchema,
  RangeResponseSchema,
  RequestOpSchema,
  TxnRequestSchema,
  WatchCreateRequestSchema,
  WatchResponseSchema,
} from "@etcd-connect/api/etcdserverpb";
import { EventSchema, file_etcd_api_mvccpb_kv, KeyValueSchema } from "@etcd-connect/api/mvccpb";
import { compiledCodec, messageCodec } from "./message-codec.js";

type Msg = Record<string, unknown>;

/** mulberry32: small, seeded, so that a failure names the seed that reproduces it. */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  uint32(): number {
    return this.int(2 ** 32) >>> this.int(32);
  }
  /** 64 random bits shifted right by a random amount, so that every varint length turns up. */
  bits64(): bigint {
    return ((BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32))) >> BigInt(this.int(64));
  }
  string(): string {
    const pieces = [
      "a",
      "Z",
      "0",
      " ",
      "/",
      "\0",
      "\x7f",
      "\x80",
      "é",
      "ß",
      "߿",
      "ࠀ",
      "日本",
      "\uffff",
      "😀",
    ];
    const lone = ["\ud800", "\udc00"]; // TextEncoder writes U+FFFD for these
    const length = this.pick([0, 1, this.int(12), this.int(40), this.int(120)]);
    let text = "";
    for (let i = 0; i < length; i++) text += this.int(30) === 0 ? this.pick(lone) : this.pick(pieces);
    return text;
  }
  bytes(): Uint8Array {
    const length = this.pick([0, 1, 8, 31, 32, 33, this.int(40), this.int(300)]);
    return Uint8Array.from({ length }, () => this.int(256));
  }
  scalar(type: ScalarType): unknown {
    const edge = this.int(3) === 0;
    switch (type) {
      case ScalarType.INT64:
      case ScalarType.SINT64:
      case ScalarType.SFIXED64:
        return edge
          ? this.pick([0n, 1n, -1n, 127n, 128n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n])
          : BigInt.asIntN(64, this.bits64() * (this.int(2) === 0 ? 1n : -1n));
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return edge ? this.pick([0n, 1n, 127n, 128n, 2n ** 53n + 1n, 2n ** 64n - 1n]) : this.bits64();
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return edge ? this.pick([0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31)]) : this.uint32() | 0;
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return edge ? this.pick([0, 1, 127, 128, 2 ** 32 - 1]) : this.uint32();
      case ScalarType.DOUBLE:
        return edge
          ? this.pick([0, -0, Number.NaN, Number.POSITIVE_INFINITY, -Number.MAX_VALUE, Number.MIN_VALUE])
          : (this.next() - 0.5) * 10 ** this.int(20);
      case ScalarType.FLOAT:
        return edge
          ? this.pick([
              0,
              -0,
              Number.NaN,
              Number.NEGATIVE_INFINITY,
              3.4028234663852886e38,
              1.401298464324817e-45,
            ])
          : Math.fround((this.next() - 0.5) * 10 ** this.int(10));
      case ScalarType.BOOL:
        return this.int(2) === 0;
      case ScalarType.STRING:
        return this.string();
      case ScalarType.BYTES:
        return this.bytes();
    }
  }
  enumValue(desc: DescEnum): number {
    // Enums are open in proto3: numbers without a name are kept as they are.
    return this.int(8) === 0 ? this.pick([-1, 42, 1000]) : this.pick(desc.values).number;
  }
}

const MAX_DEPTH = 3;

/** A message of `desc` with every kind of field filled at random, or left at its default. */
function randomMessage(rng: Random, desc: DescMessage, depth = 0): Message {
  const created = create(desc);
  const message = created as unknown as Msg;
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const field = rng.pick([undefined, ...member.fields]);
      if (field !== undefined && (field.fieldKind !== "message" || depth < MAX_DEPTH)) {
        message[member.localName] = { case: field.localName, value: randomValue(rng, field, depth) };
      }
    } else if (rng.int(4) !== 0 && (member.fieldKind !== "message" || depth < MAX_DEPTH)) {
      message[member.localName] = randomValue(rng, member, depth);
    }
  }
  return created;
}

function randomValue(rng: Random, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return rng.scalar(field.scalar);
    case "enum":
      return rng.enumValue(field.enum);
    case "message":
      if (isWrapperDesc(field.message)) return rng.int(3) === 0 ? undefined : rng.uint32(); // unwrapped
      return randomMessage(rng, field.message, depth + 1);
    case "list":
      if (field.listKind === "message" && depth >= MAX_DEPTH) return [];
      return Array.from({ length: rng.int(5) }, () => {
        if (field.listKind === "message") return randomMessage(rng, field.message, depth + 1);
        return field.listKind === "enum" ? rng.enumValue(field.enum) : rng.scalar(field.scalar);
      });
    case "map":
      return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.string(), rng.uint32() | 0]));
  }
}

function messagesOf(...files: DescFile[]): DescMessage[] {
  const all: DescMessage[] = [];
  const visit = (desc: DescMessage) => {
    all.push(desc);
    desc.nestedMessages.forEach(visit);
  };
  for (const file of files) file.messages.forEach(visit);
  return all;
}

/** Both throw the same message, or both return deep-equal results. */
function assertSameOutcome(actual: () => unknown, expected: () => unknown): void {
  let want: unknown;
  try {
    want = expected();
  } catch (error) {
    assert.throws(actual, { message: (error as Error).message });
    return;
  }
  assert.deepStrictEqual(actual(), want);
}

/** Encode and decode through the compiled path and the public codec, checked against protobuf-es. */
function assertMatchesProtobufEs(desc: DescMessage, message: Message, label: string): Uint8Array {
  const expected = toBinary(desc, message);
  const compiled = compiledCodec(desc);
  assert.ok(compiled, `${desc.typeName} is compiled`);
  assert.deepStrictEqual(compiled.encode(message), expected, `encode ${label}`);
  assert.deepStrictEqual(messageCodec(desc).encode(message), expected, `encode ${label}`);
  const decoded = fromBinary(desc, expected);
  assert.deepStrictEqual(compiled.decode(expected), decoded, `decode ${label}`);
  assert.deepStrictEqual(messageCodec(desc).decode(expected), decoded, `decode ${label}`);
  return expected;
}

const etcdMessages = messagesOf(
  file_etcd_api_etcdserverpb_rpc,
  file_etcd_api_mvccpb_kv,
  file_etcd_api_authpb_auth,
);

// A proto3 file with what etcd's API lacks: every scalar type, packed and unpacked lists, proto3
// optional, oneofs of several kinds, multi-byte tags; and types that must fall back to protobuf-es.
const T = Type;
const scalarTypes = [
  ["double", T.DOUBLE],
  ["float", T.FLOAT],
  ["int64", T.INT64],
  ["uint64", T.UINT64],
  ["int32", T.INT32],
  ["fixed64", T.FIXED64],
  ["fixed32", T.FIXED32],
  ["bool", T.BOOL],
  ["string", T.STRING],
  ["bytes", T.BYTES],
  ["uint32", T.UINT32],
  ["sfixed32", T.SFIXED32],
  ["sfixed64", T.SFIXED64],
  ["sint32", T.SINT32],
  ["sint64", T.SINT64],
] as const;
const field = (name: string, number: number, type: Type, more: object = {}) => ({
  name,
  number,
  type,
  label: Label.OPTIONAL,
  ...more,
});
const repeated = { label: Label.REPEATED };
const testFile = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "codec_test.proto",
    package: "codectest",
    syntax: "proto3",
    dependency: ["google/protobuf/wrappers.proto"],
    enumType: [
      {
        name: "Color",
        value: [
          { name: "COLOR_UNSPECIFIED", number: 0 },
          { name: "RED", number: 1 },
          { name: "BLUE", number: 300 },
        ],
      },
    ],
    messageType: [
      {
        name: "Scalars",
        oneofDecl: [{ name: "choice" }, { name: "_maybe_int64" }, { name: "_maybe_string" }],
        field: [
          ...scalarTypes.map(([name, type], i) => field(`${name}_value`, i + 1, type)),
          field("color", 16, T.ENUM, { typeName: ".codectest.Color" }),
          ...scalarTypes.map(([name, type], i) => field(`${name}_list`, 20 + i, type, repeated)),
          field("colors", 35, T.ENUM, { ...repeated, typeName: ".codectest.Color" }),
          field("unpacked_sint64", 36, T.SINT64, { ...repeated, options: { packed: false } }),
          field("unpacked_colors", 37, T.ENUM, {
            ...repeated,
            typeName: ".codectest.Color",
            options: { packed: false },
          }),
          field("maybe_int64", 40, T.INT64, { proto3Optional: true, oneofIndex: 1 }),
          field("maybe_string", 41, T.STRING, { proto3Optional: true, oneofIndex: 2 }),
          field("choice_int32", 50, T.INT32, { oneofIndex: 0 }),
          field("choice_string", 51, T.STRING, { oneofIndex: 0 }),
          field("choice_message", 52, T.MESSAGE, { oneofIndex: 0, typeName: ".codectest.Scalars" }),
          field("choice_bytes", 53, T.BYTES, { oneofIndex: 0 }),
          field("choice_color", 54, T.ENUM, { oneofIndex: 0, typeName: ".codectest.Color" }),
          field("child", 60, T.MESSAGE, { typeName: ".codectest.Scalars" }),
          field("children", 61, T.MESSAGE, { ...repeated, typeName: ".codectest.Scalars" }),
          field("far", 2000, T.STRING),
        ],
      },
      {
        name: "WithMap",
        field: [field("counts", 1, T.MESSAGE, { ...repeated, typeName: ".codectest.WithMap.CountsEntry" })],
        nestedType: [
          {
            name: "CountsEntry",
            options: { mapEntry: true },
            field: [field("key", 1, T.STRING), field("value", 2, T.INT32)],
          },
        ],
      },
      {
        name: "HoldsMap",
        field: [field("inner", 1, T.MESSAGE, { typeName: ".codectest.WithMap" }), field("name", 2, T.STRING)],
      },
      { name: "FarField", field: [field("huge", 100000, T.INT32)] },
      {
        name: "Wrapped",
        field: [field("count", 1, T.MESSAGE, { typeName: ".google.protobuf.UInt32Value" })],
      },
    ],
  }),
  (name) => (name === "google/protobuf/wrappers.proto" ? file_google_protobuf_wrappers : undefined),
);
const legacyFile = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "codec_test2.proto",
    package: "codectest2",
    syntax: "proto2",
    messageType: [
      { name: "Legacy", field: [field("count", 1, T.INT32, { defaultValue: "5" })] },
      { name: "Plain", field: [field("name", 1, T.STRING)] },
      // Still a prototype chain in proto2, unlike proto3.
      { name: "OnlyList", field: [field("values", 1, T.INT32, repeated)] },
    ],
  }),
  () => undefined,
);
const message = (registry: typeof testFile, name: string): DescMessage => {
  const desc = registry.getMessage(name);
  assert.ok(desc, name);
  return desc;
};
const Scalars = message(testFile, "codectest.Scalars");
// Unknown fields of every wire type the compiled path reads, a field number past its tables among them.
const unknownTail = new BinaryWriter()
  .tag(90, WireType.Varint)
  .uint64(2n ** 63n)
  .tag(91, WireType.Bit64)
  .fixed64(7n)
  .tag(92, WireType.LengthDelimited)
  .bytes(new Uint8Array([1, 2, 3]))
  .tag(93, WireType.Bit32)
  .fixed32(9)
  .tag(5000, WireType.Varint)
  .int32(-1)
  .finish();

describe("messageCodec on etcd's API", () => {
  it("compiles every message type of etcdserverpb, mvccpb and authpb", () => {
    assert.ok(etcdMessages.length > 90, `found ${etcdMessages.length} message types`);
    const fallbacks = etcdMessages.filter((desc) => compiledCodec(desc) === undefined);
    assert.deepEqual(
      fallbacks.map((desc) => desc.typeName),
      [],
    );
  });

  for (const desc of etcdMessages) {
    it(`matches protobuf-es for random ${desc.typeName} messages`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const rng = new Random(seed * 7919 + desc.typeName.length);
        assertMatchesProtobufEs(desc, randomMessage(rng, desc), `seed ${seed}`);
      }
    });
  }

  it("round-trips default messages as zero bytes", () => {
    for (const desc of etcdMessages) {
      const codec = messageCodec(desc);
      const empty = create(desc);
      assert.deepStrictEqual(codec.encode(empty), new Uint8Array(0), desc.typeName);
      assert.deepStrictEqual(codec.decode(new Uint8Array(0)), empty, desc.typeName);
      assert.deepStrictEqual(codec.decode(new Uint8Array(0)), fromBinary(desc, new Uint8Array(0)));
    }
  });

  it("returns bytes fields as views into the input, as protobuf-es does", () => {
    const bytes = toBinary(
      KeyValueSchema,
      create(KeyValueSchema, { key: new Uint8Array([1, 2]), lease: 5n }),
    );
    const kv = messageCodec(KeyValueSchema).decode(bytes);
    assert.equal(kv.key.buffer, bytes.buffer);
    assert.equal(kv.key.byteOffset, 2);
    assert.deepStrictEqual(kv.value, new Uint8Array(0));
    assert.notEqual(kv.value, messageCodec(KeyValueSchema).decode(bytes).value, "no shared empty array");
  });

  it("says which types never hold views into their input, and keeps to it, unknown fields included", () => {
    const viewless = etcdMessages
      .filter((desc) => !messageCodec(desc).holdsInputViews)
      .map((d) => d.typeName);
    assert.ok(viewless.includes("etcdserverpb.LeaseKeepAliveResponse"), viewless.join(", "));
    assert.ok(viewless.includes("etcdserverpb.ResponseHeader"));
    // A bytes field anywhere inside makes a type hold views: a put's answer may carry prev_kv.
    for (const name of ["mvccpb.KeyValue", "etcdserverpb.PutResponse", "etcdserverpb.WatchResponse"]) {
      assert.ok(!viewless.includes(name), name);
    }
    const desc = LeaseKeepAliveResponseSchema;
    const answer = create(desc, { ID: 2n ** 62n, TTL: 10n, header: { revision: 5n } });
    const groupTail = new BinaryWriter().tag(99, WireType.StartGroup).tag(99, WireType.EndGroup).finish();
    // Compiled, and through protobuf-es (an unknown group is left to it).
    for (const tail of [unknownTail, groupTail]) {
      const input = new Uint8Array([...toBinary(desc, answer), ...tail]);
      const decoded = messageCodec(desc).decode(input);
      const before = structuredClone(decoded);
      input.fill(0xff);
      assert.deepStrictEqual(decoded, before, "the decoded message changed with its input");
    }
  });

  it("encodes a message whose getter encodes another message meanwhile, without falling back", () => {
    const text = new TextEncoder();
    const op = (key: string) =>
      create(RequestOpSchema, {
        request: { case: "requestPut", value: { key: text.encode(key), value: text.encode(`${key}=1`) } },
      });
    const txn = create(TxnRequestSchema, { success: [op("a"), op("bb")], failure: [op("ccc")] });
    const other = create(TxnRequestSchema, { success: [op("dddd"), op("e"), op("f")] });
    const otherCodec = compiledCodec(TxnRequestSchema);
    let nested = 0;
    // Every read of a list field encodes another message with lists of its own: while the outer
    // one is sized and while it is written.
    const reentrant = new Proxy(txn, {
      get(target, name, receiver) {
        if (name === "success" || name === "failure") {
          nested++;
          assert.deepEqual(otherCodec?.encode(other), toBinary(TxnRequestSchema, other));
        }
        return Reflect.get(target, name, receiver);
      },
    });
    assert.deepEqual(compiledCodec(TxnRequestSchema)?.encode(reentrant), toBinary(TxnRequestSchema, txn));
    assert.ok(nested >= 4);
  });

  it("caches one codec per descriptor", () => {
    assert.equal(messageCodec(PutRequestSchema), messageCodec(PutRequestSchema));
  });
});

describe("messageCodec on every scalar type and field shape", () => {
  it("compiles proto3 scalars, enums, lists, optional and oneof fields", () => {
    assert.ok(compiledCodec(Scalars));
  });

  it("matches protobuf-es for 400 random messages", () => {
    for (let seed = 1; seed <= 400; seed++) {
      assertMatchesProtobufEs(Scalars, randomMessage(new Random(seed), Scalars), `seed ${seed}`);
    }
  });

  it("encodes one 64-bit value held by fields of every 64-bit type, each in its own encoding", () => {
    // The encoder reuses the halves of the value it split last: a value seen again under another
    // type must be split afresh (sint64 zigzags, the others do not).
    for (const value of [2n ** 62n + 12_345n, 2n ** 53n + 1n, 300n]) {
      for (const sign of [1n, -1n]) {
        const v = value * sign;
        const message = create(Scalars, {
          int64Value: v,
          sint64Value: v,
          sfixed64Value: v,
          uint64Value: value,
          fixed64Value: value,
          int64List: [v, v],
          sint64List: [v, v],
          unpackedSint64: [v, v],
        });
        assertMatchesProtobufEs(Scalars, message, `value ${v}`);
      }
    }
  });

  it("decodes 64-bit values that share a slot of its recent-values cache, and one bit pattern two ways", () => {
    // The decoder hands out the BigInt of a recent value again: values 64 apart share a slot, and
    // the same 64 bits read as int64 and as uint64 are two different numbers.
    for (const base of [300n, 2n ** 53n + 7n, 2n ** 62n + 5n]) {
      const message = create(Scalars, {
        int64Value: -base,
        uint64Value: 2n ** 64n - base,
        sfixed64Value: -base,
        fixed64Value: 2n ** 64n - base,
        int64List: [base, base + 64n, base, base + 128n, base + 64n, -base],
        sint64List: [base, -base, base + 64n],
      });
      assertMatchesProtobufEs(Scalars, message, `base ${base}`);
      assertMatchesProtobufEs(Scalars, message, `base ${base}, again with the cache warm`);
    }
  });

  it("writes explicit-presence and oneof zero values, skips implicit ones", () => {
    const m = Object.assign(create(Scalars), {
      maybeInt64: 0n,
      maybeString: "",
      choice: { case: "choiceInt32", value: 0 },
      int64Value: 0n,
    });
    const bytes = assertMatchesProtobufEs(Scalars, m, "zeros");
    assert.deepStrictEqual(bytes, Uint8Array.from([0xc0, 0x02, 0x00, 0xca, 0x02, 0x00, 0x90, 0x03, 0x00]));
  });

  it("decodes the unpacked encoding of packed fields, and the reverse, mixed in one message", () => {
    const w = new BinaryWriter();
    w.tag(22, WireType.Varint).int64(-5n).tag(22, WireType.LengthDelimited).fork().int64(7n).int64(1n).join();
    w.tag(22, WireType.Varint).int64(2n ** 62n);
    w.tag(35, WireType.Varint).int32(300).tag(24, WireType.Varint).int32(-1);
    w.tag(36, WireType.LengthDelimited)
      .fork()
      .sint64(-3n)
      .sint64(4n)
      .join()
      .tag(36, WireType.Varint)
      .sint64(9n);
    w.tag(37, WireType.LengthDelimited).fork().int32(1).join();
    w.tag(21, WireType.Bit32).float(1.5).tag(20, WireType.LengthDelimited).fork().double(2).double(-0).join();
    const bytes = w.finish();
    const expected = fromBinary(Scalars, bytes);
    assert.deepStrictEqual((expected as unknown as Msg).int64List, [-5n, 7n, 1n, 2n ** 62n]);
    assert.deepStrictEqual(compiledCodec(Scalars)?.decode(bytes), expected);
    assert.deepStrictEqual(messageCodec(Scalars).decode(bytes), expected);
    const filters = new BinaryWriter()
      .tag(5, WireType.Varint)
      .int32(1)
      .tag(5, WireType.Varint)
      .int32(0)
      .finish();
    assert.deepStrictEqual(compiledCodec(WatchCreateRequestSchema)?.decode(filters).filters, [1, 0]);
  });

  it("merges repeated message fields, appends lists and lets the last oneof case win", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rng = new Random(seed);
      const parts = [randomMessage(rng, Scalars), randomMessage(rng, Scalars)].map((m) =>
        toBinary(Scalars, m),
      );
      const joined = new Uint8Array([...(parts[0] ?? []), ...(parts[1] ?? [])]);
      assert.deepStrictEqual(
        compiledCodec(Scalars)?.decode(joined),
        fromBinary(Scalars, joined),
        `seed ${seed}`,
      );
    }
    const ops = [
      create(RequestOpSchema, {
        request: { case: "requestRange", value: { key: new Uint8Array([1]), limit: 3n } },
      }),
      create(RequestOpSchema, { request: { case: "requestRange", value: { revision: 9n } } }),
      create(RequestOpSchema, { request: { case: "requestPut", value: { value: new Uint8Array([2]) } } }),
    ].map((op) => toBinary(RequestOpSchema, op));
    for (const joined of [ops.slice(0, 2), ops, [ops[2], ops[0], ops[1]]]) {
      const bytes = new Uint8Array(joined.flatMap((part) => [...(part ?? [])]));
      assert.deepStrictEqual(
        compiledCodec(RequestOpSchema)?.decode(bytes),
        fromBinary(RequestOpSchema, bytes),
      );
    }
  });
});

describe("messageCodec on unknown fields", () => {
  it("keeps them in $unknown as protobuf-es does, nested and merged too, and writes them back", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rng = new Random(seed);
      const desc = rng.pick([RangeResponseSchema, TxnRequestSchema, KeyValueSchema, Scalars]);
      const inner = toBinary(desc, randomMessage(rng, desc));
      // Unknown fields around the message, and in a nested message that occurs twice and so is merged.
      const nested = new BinaryWriter().tag(60, WireType.LengthDelimited).bytes(unknownTail).finish();
      const tail = desc === Scalars ? [...nested, ...nested] : [];
      const bytes = new Uint8Array([...unknownTail, ...inner, ...unknownTail, ...tail]);
      const expected = fromBinary(desc, bytes);
      assert.ok((expected as unknown as Msg).$unknown, "protobuf-es kept unknown fields");
      const decoded = compiledCodec(desc)?.decode(bytes);
      assert.deepStrictEqual(decoded, expected, `seed ${seed}`);
      assert.deepStrictEqual(messageCodec(desc).decode(bytes), expected, `seed ${seed}`);
      assert.deepStrictEqual(compiledCodec(desc)?.encode(expected), toBinary(desc, expected), `seed ${seed}`);
    }
  });

  it("leaves an unknown group to protobuf-es", () => {
    const bytes = new BinaryWriter()
      .tag(99, WireType.StartGroup)
      .tag(1, WireType.Varint)
      .int32(1)
      .tag(99, WireType.EndGroup)
      .finish();
    assert.throws(() => compiledCodec(PutRequestSchema)?.decode(bytes));
    assert.deepStrictEqual(messageCodec(PutRequestSchema).decode(bytes), fromBinary(PutRequestSchema, bytes));
  });
});

describe("messageCodec on malformed input", () => {
  // Short ones: every prefix of each is decoded.
  const samples = Array.from({ length: 200 }, (_, i) => {
    const rng = new Random(1000 + i);
    const desc = rng.pick([RangeResponseSchema, TxnRequestSchema, Scalars, WatchCreateRequestSchema]);
    return { desc, bytes: toBinary(desc, randomMessage(rng, desc)) };
  })
    .filter((sample) => sample.bytes.length > 0 && sample.bytes.length < 400)
    .slice(0, 30);

  it("throws protobuf-es's error, or returns its message, for every truncation", () => {
    let throwing = 0;
    for (const { desc, bytes } of samples) {
      for (let end = 0; end < bytes.length; end++) {
        const prefix = bytes.subarray(0, end);
        assertSameOutcome(
          () => messageCodec(desc).decode(prefix),
          () => fromBinary(desc, prefix),
        );
        try {
          compiledCodec(desc)?.decode(prefix);
        } catch {
          throwing++;
        }
      }
    }
    assert.ok(throwing > 100, `only ${throwing} truncations threw`);
  });

  it("throws on a truncated varint, a length past the end, and bad tags", () => {
    const codec = messageCodec(PutRequestSchema);
    for (const bytes of [
      [0x20, 0x80],
      [0x0a, 0x05, 0x01],
      [0x00, 0x01],
      [0x0f],
      [0xfa, 0xff, 0xff, 0xff, 0xff, 0x01],
    ]) {
      const input = Uint8Array.from(bytes);
      assert.throws(() => fromBinary(PutRequestSchema, input));
      assert.throws(() => codec.decode(input), Error);
    }
  });

  it("matches protobuf-es on randomly corrupted bytes", () => {
    const rng = new Random(77);
    for (let i = 0; i < 3000; i++) {
      const { desc, bytes } = rng.pick(samples);
      const corrupt = bytes.slice();
      for (let flips = 1 + rng.int(3); flips > 0 && corrupt.length > 0; flips--) {
        corrupt[rng.int(corrupt.length)] = rng.pick([0, 0x80, 0xff, rng.int(256)]);
      }
      assertSameOutcome(
        () => messageCodec(desc).decode(corrupt),
        () => fromBinary(desc, corrupt),
      );
    }
  });

  it("leaves a known field with an unexpected wire type to protobuf-es", () => {
    const cases = [
      new BinaryWriter().tag(1, WireType.Varint).int32(5).finish(), // key is bytes
      new BinaryWriter()
        .tag(3, WireType.LengthDelimited)
        .bytes(new Uint8Array([1]))
        .finish(), // lease is int64
      new BinaryWriter().tag(3, WireType.Bit64).fixed64(1n).finish(),
    ];
    for (const bytes of cases) {
      assert.throws(() => compiledCodec(PutRequestSchema)?.decode(bytes), /unexpected wire type/);
      assertSameOutcome(
        () => messageCodec(PutRequestSchema).decode(bytes),
        () => fromBinary(PutRequestSchema, bytes),
      );
    }
  });

  it("rejects invalid UTF-8 in strings as protobuf-es does", () => {
    const bytes = new BinaryWriter()
      .tag(9, WireType.LengthDelimited)
      .bytes(Uint8Array.from([0x61, 0xc3, 0x28]))
      .finish();
    assert.throws(() => fromBinary(Scalars, bytes));
    assert.throws(() => messageCodec(Scalars).decode(bytes));
  });

  it("stops at protobuf-es's recursion limit of 100", () => {
    const nest = (levels: number) => {
      let txn = create(TxnRequestSchema);
      for (let i = 0; i < levels; i++) {
        txn = create(TxnRequestSchema, { success: [{ request: { case: "requestTxn", value: txn } }] });
      }
      return toBinary(TxnRequestSchema, txn);
    };
    const deep = nest(49); // 1 + 2 * 49 = 99 levels of messages
    assert.deepStrictEqual(compiledCodec(TxnRequestSchema)?.decode(deep), fromBinary(TxnRequestSchema, deep));
    const tooDeep = nest(50);
    assert.throws(() => fromBinary(TxnRequestSchema, tooDeep), /recursion/);
    assert.throws(() => messageCodec(TxnRequestSchema).decode(tooDeep), /recursion/);
  });
});

describe("messageCodec where code generation is disallowed", () => {
  it("builds its zero messages without generated code and decodes as protobuf-es does", () => {
    const script = fileURLToPath(new URL("../../test/codec-without-eval.ts", import.meta.url));
    const output = execFileSync(
      process.execPath,
      ["--disallow-code-generation-from-strings", "--conditions=source", "--import", "tsx", script],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(output.trim(), "ok");
  });
});

describe("messageCodec falling back to protobuf-es", () => {
  const fallbacks = [
    message(testFile, "codectest.WithMap"),
    message(testFile, "codectest.HoldsMap"),
    message(testFile, "codectest.FarField"),
    message(testFile, "codectest.Wrapped"),
    message(legacyFile, "codectest2.Legacy"),
    message(legacyFile, "codectest2.Plain"),
    message(legacyFile, "codectest2.OnlyList"),
  ];

  for (const desc of fallbacks) {
    it(`uses toBinary / fromBinary for ${desc.typeName}`, () => {
      assert.equal(compiledCodec(desc), undefined);
      for (let seed = 1; seed <= 20; seed++) {
        const m = randomMessage(new Random(seed), desc);
        const bytes = toBinary(desc, m);
        assert.deepStrictEqual(messageCodec(desc).encode(m), bytes);
        assert.deepStrictEqual(messageCodec(desc).decode(bytes), fromBinary(desc, bytes));
      }
    });
  }

  it("encodes values protobuf-es converts or rejects through toBinary", () => {
    const cases: Array<[DescMessage, Msg]> = [
      [PutRequestSchema, { lease: 5 }],
      [PutRequestSchema, { lease: "-7" }],
      [PutRequestSchema, { lease: 2n ** 63n }],
      [PutRequestSchema, { prevKv: undefined }],
      [Scalars, { int32Value: 2 ** 31 }],
      [Scalars, { uint32Value: -1 }],
      [Scalars, { int32Value: "12" }],
      [Scalars, { floatValue: 1e39 }],
      [Scalars, { doubleValue: "2.5" }],
      [Scalars, { stringValue: undefined }],
      [Scalars, { int64List: [1n, 2] }],
      [Scalars, { child: { $typeName: "codectest.Other" } }],
      [RangeResponseSchema, { $typeName: "etcdserverpb.PutResponse" }],
    ];
    for (const [desc, fields] of cases) {
      const m = Object.assign(create(desc), fields);
      assert.throws(
        () => compiledCodec(desc)?.encode(m),
        `${JSON.stringify(Object.keys(fields))} is refused`,
      );
      assertSameOutcome(
        () => messageCodec(desc).encode(m),
        () => toBinary(desc, m),
      );
    }
  });
});

// `bytes` cut at `cuts` (ascending), each part in a buffer of its own, as reads are.
function cutInto(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const edges = [0, ...cuts, bytes.length];
  return edges.slice(1).map((end, i) => bytes.slice(edges[i], end));
}

function randomCuts(rng: Random, length: number, count: number): number[] {
  return Array.from({ length: count }, () => rng.int(length + 1)).sort((a, b) => a - b);
}

describe("messageCodec.decodeParts", () => {
  it("decodes a message cut anywhere, into parts of any size or none, as it decodes it whole", () => {
    const descs = [...etcdMessages, Scalars];
    for (let seed = 1; seed <= 400; seed++) {
      const rng = new Random(seed);
      const desc = rng.pick(descs);
      const whole = toBinary(desc, randomMessage(rng, desc));
      // Unknown fields of every wire type, cut through as well.
      const bytes = rng.int(2) === 0 ? whole : new Uint8Array([...unknownTail, ...whole, ...unknownTail]);
      const parts = cutInto(bytes, randomCuts(rng, bytes.length, rng.int(12)));
      const expected = fromBinary(desc, bytes);
      assert.deepStrictEqual(compiledCodec(desc)?.decodeParts(parts), expected, `seed ${seed}`);
      assert.deepStrictEqual(messageCodec(desc).decodeParts(parts), expected, `seed ${seed}`);
    }
  });

  it("decodes a message cut in two at every offset, and in three around every offset", () => {
    const rng = new Random(5);
    const desc: DescMessage = RangeResponseSchema;
    const bytes = new Uint8Array([...toBinary(desc, randomMessage(rng, desc)), ...unknownTail]);
    const expected = fromBinary(desc, bytes);
    const codec = compiledCodec(desc);
    for (let at = 0; at <= bytes.length; at++) {
      assert.deepStrictEqual(codec?.decodeParts(cutInto(bytes, [at])), expected, `cut at ${at}`);
      const three = cutInto(bytes, [Math.max(0, at - 1), Math.min(bytes.length, at + 1)]);
      assert.deepStrictEqual(codec?.decodeParts(three), expected, `cut around ${at}`);
    }
  });

  it("leaves the bytes fields of a field within one part as views into it, and copies one spanning two", () => {
    const events = Array.from({ length: 200 }, (_, i) =>
      create(EventSchema, {
        kv: {
          key: new TextEncoder().encode(`key/${i}`),
          value: new Uint8Array(100).fill(i),
          modRevision: BigInt(i + 1),
        },
      }),
    );
    const bytes = toBinary(WatchResponseSchema, create(WatchResponseSchema, { watchId: 7n, events }));
    const parts = cutInto(
      bytes,
      Array.from({ length: Math.floor(bytes.length / 4096) }, (_, i) => (i + 1) * 4096),
    );
    const decoded = messageCodec(WatchResponseSchema).decodeParts(parts);
    assert.deepStrictEqual(decoded, fromBinary(WatchResponseSchema, bytes));
    const buffers = new Set(parts.map((part) => part.buffer));
    const inPlace = decoded.events.filter((event) => buffers.has(event.kv?.value.buffer as ArrayBufferLike));
    // Events are ~130 bytes, so about one in 30 spans a cut and is copied.
    assert.ok(inPlace.length > 180 && inPlace.length < 200, `${inPlace.length} of 200 decoded in place`);
    for (const event of decoded.events) {
      assert.equal(Object.getPrototypeOf(event.kv?.value), Uint8Array.prototype, "a plain Uint8Array");
    }
  });

  it("gives the outcome decode gives the whole bytes for every truncation and corruption", () => {
    const rng = new Random(11);
    const samples = Array.from({ length: 40 }, () => {
      const desc = rng.pick([RangeResponseSchema, TxnRequestSchema, Scalars, WatchResponseSchema]);
      return { desc, bytes: toBinary(desc, randomMessage(rng, desc)) };
    }).filter((sample) => sample.bytes.length > 0);
    let throwing = 0;
    for (let i = 0; i < 3000; i++) {
      const { desc, bytes } = rng.pick(samples);
      const broken = bytes.slice(0, rng.int(bytes.length + 1));
      for (let flips = rng.int(3); flips > 0 && broken.length > 0; flips--) {
        broken[rng.int(broken.length)] = rng.pick([0, 0x80, 0xff, 0x0b, 0x0c, rng.int(256)]);
      }
      const parts = cutInto(broken, randomCuts(rng, broken.length, 1 + rng.int(6)));
      assertSameOutcome(
        () => messageCodec(desc).decodeParts(parts),
        () => fromBinary(desc, broken),
      );
      try {
        compiledCodec(desc)?.decodeParts(parts);
      } catch {
        throwing++;
      }
    }
    assert.ok(throwing > 500, `only ${throwing} of 3000 threw`);
  });
});
