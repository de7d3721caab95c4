// singlet: what commander takes from Node's built-in modules, on Deno's own APIs.
// Importing `node:fs`, `node:process`, `node:child_process`, `node:events`, `node:path`
// and `node:util` makes Deno load its Node compatibility layer, about 25 ms of CPU on
// every `singlet` start (bench/README.md); commander needs only these few functions.

/** The subset of Node's EventEmitter commander uses (option and help events). */
export class EventEmitter {
  #listeners = new Map();

  on(event, listener) {
    const list = this.#listeners.get(event);
    if (list) list.push(listener);
    else this.#listeners.set(event, [listener]);
    return this;
  }

  addListener(event, listener) {
    return this.on(event, listener);
  }

  once(event, listener) {
    const wrapped = (...args) => {
      this.removeListener(event, wrapped);
      listener.apply(this, args);
    };
    return this.on(event, wrapped);
  }

  removeListener(event, listener) {
    const list = this.#listeners.get(event);
    const index = list ? list.indexOf(listener) : -1;
    if (index >= 0) list.splice(index, 1);
    return this;
  }

  off(event, listener) {
    return this.removeListener(event, listener);
  }

  emit(event, ...args) {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return false;
    for (const listener of [...list]) listener.apply(this, args);
    return true;
  }

  listenerCount(event) {
    return this.#listeners.get(event)?.length ?? 0;
  }

  listeners(event) {
    return [...(this.#listeners.get(event) ?? [])];
  }
}

/** Executable subcommands (`.command(name, description)`) are not used by singlet. */
export const childProcess = {
  spawn() {
    throw new Error("commander: executable subcommands are not supported in singlet");
  },
};

function basename(p, ext) {
  const base = p.replace(/\/+$/, "").split("/").pop() ?? "";
  return ext && base.endsWith(ext) && base !== ext ? base.slice(0, -ext.length) : base;
}

function dirname(p) {
  const trimmed = p.replace(/\/+$/, "");
  const index = trimmed.lastIndexOf("/");
  if (index < 0) return ".";
  return index === 0 ? "/" : trimmed.slice(0, index);
}

function extname(p) {
  const base = basename(p);
  const index = base.lastIndexOf(".");
  return index <= 0 ? "" : base.slice(index);
}

function resolve(...parts) {
  let path = "";
  for (const part of parts) path = part.startsWith("/") ? part : `${path}/${part}`;
  if (!path.startsWith("/")) path = `${Deno.cwd()}/${path}`;
  const out = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return `/${out.join("/")}`;
}

/** POSIX path functions commander uses to name executable subcommands. */
export const path = { basename, dirname, extname, resolve };

/** File lookups commander uses for executable subcommands. */
export const fs = {
  existsSync(p) {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  },
  realpathSync(p) {
    return Deno.realPathSync(p);
  },
};

function envGet(name) {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function stream(file) {
  const encoder = new TextEncoder();
  return {
    get isTTY() {
      return file.isTerminal();
    },
    get columns() {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return undefined;
      }
    },
    hasColors() {
      return envGet("TERM") !== "dumb";
    },
    write(text) {
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      return true;
    },
  };
}

/** The parts of Node's `process` commander reads. */
export const process = {
  argv: ["deno", Deno.mainModule, ...Deno.args],
  execArgv: [],
  versions: {},
  platform: Deno.build.os,
  exitCode: undefined,
  env: new Proxy({}, {
    get: (_, name) => (typeof name === "string" ? envGet(name) : undefined),
    has: (_, name) => typeof name === "string" && envGet(name) !== undefined,
  }),
  stdout: stream(Deno.stdout),
  stderr: stream(Deno.stderr),
  exit(code) {
    Deno.exit(code ?? 0);
  },
  on() {},
};

// From Node's lib/internal/util/inspect.js (ansiPattern), as node:util uses it.
const ANSI = new RegExp(
  "[\\u001B\\u009B][[\\]()#;?]*" +
    "(?:(?:(?:(?:;[-a-zA-Z\\d\\/\\#&.:=?%@~_]+)*" +
    "|[a-zA-Z\\d]+(?:;[-a-zA-Z\\d\\/\\#&.:=?%@~_]*)*)?" +
    "(?:\\u0007|\\u001B\\u005C|\\u009C))" +
    "|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PR-TZcf-ntqry=><~]))",
  "g",
);

/** Node's `util.stripVTControlCharacters`. */
export function stripVTControlCharacters(text) {
  return text.replace(ANSI, "");
}
