/**
 * The bootstrap agents singlet runs, by header name; others are refused with a clear error.
 *
 * @module
 */
import { SingletError } from "../../errors.ts";
import type { BootstrapAgent } from "./agent.ts";
import { bootstrapOci } from "./oci.ts";
import { bootstrapLocalImage } from "./localimage.ts";

export type { BootstrapAgent, BootstrapContext, BootstrapResult } from "./agent.ts";

const OCI_AGENTS = ["docker", "docker-archive", "docker-daemon", "oci", "oci-archive"];

/**
 * The agent for a `Bootstrap:` value.
 *
 * @param name The header value (any case).
 * @returns The agent.
 * @throws {SingletError} For agents this build does not run.
 */
export function bootstrapAgent(name: string): BootstrapAgent {
  const agent = name.trim().toLowerCase();
  if (OCI_AGENTS.includes(agent)) return (context) => bootstrapOci(agent, context);
  if (agent === "localimage") return bootstrapLocalImage;
  if (agent === "scratch") {
    return async (context) => {
      await Deno.mkdir(context.rootfs, { mode: 0o755 });
      return {};
    };
  }
  throw new SingletError(`Cannot bootstrap with "${name}": this agent is not supported yet`, {
    hint: "use docker, oci, oci-archive, docker-archive, docker-daemon, localimage or scratch",
    exitCode: 255,
  });
}
