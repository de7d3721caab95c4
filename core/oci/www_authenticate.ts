/**
 * A parser for the `WWW-Authenticate` header (RFC 7235 §4.1), which registries use to send
 * clients to a token service:
 *
 * ```
 * WWW-Authenticate = 1#challenge
 * challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 * auth-param       = token BWS "=" BWS ( token / quoted-string )
 * quoted-string    = DQUOTE *( qdtext / "\" any-char ) DQUOTE
 * ```
 *
 * Commas separate both challenges and parameters; a new challenge starts where a token is
 * followed by a space and another token that is not followed by "=".
 *
 * @module
 */

/** One authentication challenge. */
export interface Challenge {
  /** Scheme, lowercased ("bearer", "basic"). */
  scheme: string;
  /** Parameters with lowercased names ("realm", "service", "scope"). */
  params: Record<string, string>;
  /** A token68 value when the challenge carries one instead of parameters. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parse every challenge in a `WWW-Authenticate` header value.
 *
 * @param header The header value (several headers may be joined with ", ").
 * @returns The challenges in order; malformed trailing parts are dropped.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    let out = "";
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === "\\" && i + 1 < n) i++;
      out += header[i];
      i++;
    }
    i++; // closing quote
    return out;
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipSpace();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const start = i;
    const token = readToken();
    if (!token) {
      i++; // skip a stray character
      continue;
    }
    skipSpace();
    if (header[i] === "=" && current) {
      // A parameter of the current challenge (or token68 padding: "abc==").
      i++;
      skipSpace();
      if (header[i] === "=" || i >= n || header[i] === ",") {
        while (i < n && header[i] === "=") i++;
        current.token68 = header.slice(start, i).trim();
        continue;
      }
      const value = header[i] === '"' ? readQuoted() : readToken();
      current.params[token.toLowerCase()] = value;
      continue;
    }
    // A new challenge: scheme, then maybe token68 or parameters.
    current = { scheme: token.toLowerCase(), params: {} };
    challenges.push(current);
    const save = i;
    const next = readToken();
    if (next) {
      const afterToken = i;
      skipSpace();
      if (header[i] === "=") {
        // Either a parameter (name=value) or a token68 ending in '='.
        let j = i;
        while (j < n && header[j] === "=") j++;
        let k = j;
        while (k < n && (header[k] === " " || header[k] === "\t")) k++;
        if (k >= n || header[k] === ",") {
          current.token68 = header.slice(save, j).trim();
          i = j;
        } else {
          i = save; // re-read as a parameter in the main loop
        }
      } else {
        current.token68 = next;
        i = afterToken;
      }
    }
  }
  return challenges;
}
