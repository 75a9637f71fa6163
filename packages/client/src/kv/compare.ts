import { type Compare, Compare_CompareResult, Compare_CompareTarget } from "@etcd-connect/api/etcdserverpb";
import { type Bytes, toBytes } from "../bytes.js";
import { invalidArgument } from "../errors.js";
import { type Int64Like, toInt64 } from "../int64.js";
import { keyRange, type RangeSelector } from "../key-range.js";

/** How a compare relates the key's current state to the given operand. */
export type CompareOperator = "=" | "!=" | "<" | ">";

const results = {
  "=": Compare_CompareResult.EQUAL,
  "!=": Compare_CompareResult.NOT_EQUAL,
  "<": Compare_CompareResult.LESS,
  ">": Compare_CompareResult.GREATER,
} as const;

function build(
  key: Bytes,
  operator: CompareOperator,
  range: RangeSelector | undefined,
  target: Compare_CompareTarget,
  targetUnion: Compare["targetUnion"],
): Compare {
  if (!Object.hasOwn(results, operator)) {
    throw invalidArgument(`compare operator must be =, !=, < or >, got ${String(operator)}`);
  }
  const { key: k, rangeEnd } = keyRange(key, range);
  // A literal, not create() over a spread: protobuf-es walks the schema on every create(), which
  // made a compare cost ~8 µs (a put request ~1 µs). op.test.ts holds it equal to create()'s.
  return {
    $typeName: "etcdserverpb.Compare",
    result: results[operator],
    target,
    key: k,
    rangeEnd,
    targetUnion,
  };
}

/**
 * Txn conditions, like Go's `clientv3.Compare(Value(k), "=", v)`. The optional last argument
 * applies the compare to every key of a range or prefix, like Go's `Cmp.WithRange`/`WithPrefix`.
 *
 * @example
 * await client.txn().if(compare.version("job", "=", 0)).then(opPut("job", "mine")).commit();
 */
export const compare = {
  /** Compares the value (byte-wise). */
  value(key: Bytes, operator: CompareOperator, value: Bytes, range?: RangeSelector): Compare {
    return build(key, operator, range, Compare_CompareTarget.VALUE, { case: "value", value: toBytes(value) });
  },
  /** Compares the version: 0 for a missing key, 1 after its first put. */
  version(key: Bytes, operator: CompareOperator, version: Int64Like, range?: RangeSelector): Compare {
    const value = toInt64("version", version);
    return build(key, operator, range, Compare_CompareTarget.VERSION, { case: "version", value });
  },
  /** Compares the creation revision: 0 for a missing key. */
  createRevision(key: Bytes, operator: CompareOperator, revision: Int64Like, range?: RangeSelector): Compare {
    const value = toInt64("createRevision", revision);
    return build(key, operator, range, Compare_CompareTarget.CREATE, { case: "createRevision", value });
  },
  /** Compares the last modification revision. */
  modRevision(key: Bytes, operator: CompareOperator, revision: Int64Like, range?: RangeSelector): Compare {
    const value = toInt64("modRevision", revision);
    return build(key, operator, range, Compare_CompareTarget.MOD, { case: "modRevision", value });
  },
  /** Compares the attached lease id: 0 for none. */
  lease(key: Bytes, operator: CompareOperator, lease: Int64Like, range?: RangeSelector): Compare {
    const value = toInt64("lease", lease);
    return build(key, operator, range, Compare_CompareTarget.LEASE, { case: "lease", value });
  },
};
