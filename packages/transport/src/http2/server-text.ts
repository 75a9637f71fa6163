/** How much text from a server an error message carries at most, in characters. */
export const maxServerTextLength = 1024;

// C0 controls, DEL and C1 controls: what a terminal or a line-based log would act on.
function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/**
 * Text a server sent (a `grpc-message`, GOAWAY debug data, a content type), made safe to put in
 * an error message: control characters become `\xNN`, so a log line cannot be forged or a terminal
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
    safe += `${raw.slice(from, i)}\\x${c.toString(16).padStart(2, "0")}`;
    from = i + 1;
  }
  safe = from === 0 ? raw.slice(0, length) : safe + raw.slice(from, length);
  return raw.length > length ? `${safe}... (${raw.length - length} more characters)` : safe;
}
