// A copyable POSIX shell command that sends a signed webhook the way flows/triggers/signing.py
// verifies it: header ``X-Controlroom-Signature: t=<unix seconds>,v1=<hex>`` where v1 is
// HMAC-SHA256, keyed with the signing secret, over exactly ``"<t>.<raw body>"`` (the decimal t,
// one dot, the body bytes as sent). The command computes t and the HMAC when it runs (the server
// refuses a t more than five minutes off), with openssl, and sends the body byte for byte
// (--data-binary, the same text that was signed).

const HEADER = "X-Controlroom-Signature";
export const SECRET_VARIABLE = "CONTROLROOM_WEBHOOK_SECRET";

// ``text`` as one single-quoted shell word.
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

// The body to send: the sample input as compact JSON, or {} when it is not a JSON object.
export function sampleBody(sample) {
  try {
    const value = JSON.parse(sample || "{}");
    if (value && typeof value === "object" && !Array.isArray(value)) return { body: JSON.stringify(value), ok: true };
  } catch {
    // falls through to the empty object
  }
  return { body: "{}", ok: false };
}

/**
 * ``secret``: written into the command when the page knows it (just issued or revealed); else the
 * command reads it from $CONTROLROOM_WEBHOOK_SECRET and stops with a message if that is unset.
 * @param {{url: string, body: string, secret?: string | null}} request
 */
export function signedCurl({ url, body, secret }) {
  const secretLine = secret
    ? `SECRET=${shellQuote(secret)}`
    : `SECRET="\${${SECRET_VARIABLE}:?set ${SECRET_VARIABLE} to the flow's signing secret}"`;
  return [
    secretLine,
    `BODY=${shellQuote(body)}`,
    "T=$(date +%s)",
    `SIG=$(printf '%s.%s' "$T" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.*= //')`,
    `curl -sS -w '\\nHTTP %{http_code}\\n' -X POST ${shellQuote(url)} \\`,
    "  -H 'Content-Type: application/json' \\",
    `  -H "${HEADER}: t=$T,v1=$SIG" \\`,
    '  --data-binary "$BODY"',
  ].join("\n");
}
