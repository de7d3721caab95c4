// Starts a registry, prints its pid and leaves without stop(): by exiting normally (the
// unload hook must kill it) or, with "hang", by waiting to be SIGKILLed.
import { startRegistry } from "../registry.ts";

const registry = await startRegistry();
await Deno.stdout.write(new TextEncoder().encode(JSON.stringify({ pid: registry.pid, host: registry.host }) + "\n"));
if (Deno.args[0] === "hang") await new Promise(() => setInterval(() => {}, 1000));
