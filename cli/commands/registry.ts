/**
 * `singlet registry login|logout|list`: manage OCI registry credentials, stored docker-style
 * (mode 0600) in `~/.singlet/docker-config.json` or the file given with `--authfile`.
 *
 * @module
 */
import { action, type Command, globalOptions } from "../_command.ts";
import { log, printJson, printOut } from "../_output.ts";
import { ask, readLine } from "../_prompt.ts";
import { SingletError, UsageError } from "../../core/errors.ts";
import {
  Authenticator,
  listCredentials,
  loginStorePath,
  registryKey,
  removeCredentials,
  storeCredentials,
} from "../../core/oci/auth.ts";
import { HttpClient } from "../../core/oci/http.ts";
import { RegistryClient } from "../../core/oci/registry.ts";
import { httpOptionsFrom, type NetworkFlags } from "./pull.ts";

function registryOf(uri: string): string {
  const match = /^(?:docker|oras):\/\/([^/]+)\/?$/.exec(uri) ?? /^([^/:]+(?::\d+)?)$/.exec(uri);
  if (!match) {
    throw new UsageError(
      `invalid registry URI "${uri}"`,
      "give the registry as docker://HOST[:PORT], e.g. docker://registry.example.org",
    );
  }
  return registryKey(match[1]!);
}

interface LoginFlags extends NetworkFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

/**
 * Register `singlet registry`.
 *
 * @param program The root program.
 */
export function registerRegistry(program: Command): void {
  const registry = program
    .command("registry")
    .description("Manage authentication to OCI/Docker registries");

  registry
    .command("login")
    .description("Login to an OCI/Docker registry")
    .usage("[login options...] <registry_uri>")
    .argument("<uri>", "docker://HOST[:PORT]")
    .option("-u, --username <user>", "username to authenticate with")
    .option("-p, --password <password>", "password to authenticate with (prefer --password-stdin)")
    .option("--password-stdin", "take the password from standard input")
    .option("--authfile <file>", "docker-style auth file to write instead of the default")
    .option("--no-https", "use http instead of https (local registries only)")
    .option("--ca-file <file>", "trust the CA certificates in this PEM file as well")
    .action(action(async (uri: string, flags: LoginFlags, self: Command) => {
      const host = registryOf(uri);
      if (flags.password !== undefined && flags.passwordStdin) {
        throw new UsageError("--password and --password-stdin cannot be used together");
      }
      const username = flags.username ?? (await ask("Username: "));
      if (!username) throw new UsageError("a user name is required");
      let password: string;
      if (flags.passwordStdin) password = await readLine();
      else if (flags.password !== undefined) {
        log.warning("passing a password on the command line is insecure; use --password-stdin");
        password = flags.password;
      } else password = await ask("Password / Token: ", true);
      const http = new HttpClient(httpOptionsFrom(flags, !!globalOptions(self).debug));
      try {
        const client = new RegistryClient(
          http,
          host,
          new Authenticator(http, host, { username, password }),
        );
        await client.ping();
      } catch (error) {
        if (error instanceof SingletError) {
          throw new SingletError(`Cannot log in to "${host}": ${error.message}`, {
            hint: "check the user name, password and registry address",
            exitCode: error.exitCode,
          });
        }
        throw error;
      } finally {
        http.close();
      }
      const store = flags.authfile ?? loginStorePath();
      await storeCredentials(store, host, { username, password });
      log.info(`Token stored in ${store}`);
    }));

  registry
    .command("logout")
    .description("Logout from an OCI/Docker registry")
    .argument("<uri>", "docker://HOST[:PORT]")
    .option("--authfile <file>", "docker-style auth file to edit instead of the default")
    .action(action(async (uri: string, flags: { authfile?: string }) => {
      const host = registryOf(uri);
      const store = flags.authfile ?? loginStorePath();
      if (!(await removeCredentials(store, host))) {
        throw new SingletError(`Cannot log out from "${host}": not logged in`, {
          hint: "see 'singlet registry list'",
        });
      }
      log.info("Logout succeeded");
    }));

  registry
    .command("list")
    .description("List all OCI/Docker registries you are logged in to")
    .option("--authfile <file>", "docker-style auth file to read instead of the default")
    .option("--json", "print the list as JSON")
    .action(action(async (flags: { authfile?: string; json?: boolean }) => {
      const entries = await listCredentials(flags.authfile ?? loginStorePath());
      if (flags.json) {
        printJson(entries.map((e) => ({ uri: `docker://${e.registry}`, username: e.username })));
        return;
      }
      const rows = entries.map((e) => [`docker://${e.registry}`, e.username]);
      const width = Math.max(3, ...rows.map((r) => r[0]!.length)) + 2;
      printOut(`${"URI".padEnd(width)}USERNAME\n`);
      for (const [uri, user] of rows) printOut(`${uri!.padEnd(width)}${user}\n`);
    }));
}
