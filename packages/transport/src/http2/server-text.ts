/** How much text from a server an error message carries at most, in characters. */
export const maxServerTextLength = 1024;

// C0 controls, DEL and C1 controls: what a terminal or a line-based log would act on. Also the
// Unicode line and paragraph separators (a new line to JSON-lines readers and editors) and the
// bidirectional marks, embeddings, overrides and isolates, which make a log line read otherwise
// than it is (the "Trojan Source" characters).
function isControl(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    (c >= 0x2000 &&
      (c === 0x200e ||
        c === 0x200f ||
        c === 0x2028 ||
        c === 0x2029 ||
        (c >= 0x202a && c <= 0x202e) ||
        (c >= 0x2066 && c <= 0x2069)))
  );
}

/**
 * Text a server sent (a `grpc-message`, GOAWAY debug data, a content type), made safe to put in
 * an error message: control characters become `\xNN` (separators and bidirectional controls
 * `\uNNNN`), so a log line cannot be forged or a terminal
 * driven, and anything past `maxLength` characters is cut and counted, so a peer cannot make our
 * errors megabytes long.
 */
export function serverText(raw: string, maxLength = maxServerTextLength): string {
  const length = Math.min(raw.length, maxLength);
  let safe = "";
  let from = 0;
  for (let i = 0; i < length; i++) {
    const c = raw.charCodeAt(i);
    if (!isControl(c)) continue;
    safe += `${raw.slice(from, i)}${c > 0xff ? `\\u${c.toString(16)}` : `\\x${c.toString(16).padStart(2, "0")}`}`;
    from = i + 1;
  }
  safe = from === 0 ? raw.slice(0, length) : safe + raw.slice(from, length);
  return raw.length > length ? `${safe}... (${raw.length - length} more characters)` : safe;
}
