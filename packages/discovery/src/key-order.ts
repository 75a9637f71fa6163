/**
 * Orders text by its UTF-8 bytes: etcd's key order, and the order Go's `sort.Strings` gives map
 * keys. Code point order is UTF-8 byte order; JavaScript's `<` on strings compares UTF-16 code
 * units, which differs above U+D7FF.
 */
export function byUtf8(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const diff = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
  return x.length - y.length;
}
