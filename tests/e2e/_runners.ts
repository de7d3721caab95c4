/**
 * Who runs singlet in the exec suites: root, or an unprivileged test user with or without
 * subordinate ID ranges. Each suite loops over the three.
 */
import assert from "node:assert/strict";
import { runSinglet, SINGLET_BIN } from "../_helpers/singlet.ts";
import { runAs, type TestUser, testUser } from "../_helpers/unpriv.ts";

/** What a singlet run printed and how it ended. */
export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Who runs singlet: root, or a test user. */
export type Runner = {
  /** For test names. */
  name: string;
  /** uid outside (the caller's). */
  uid: () => number;
  /** uid inside: the caller's, except without subids (root mapped to the caller). */
  inside: () => number;
  /** Whether the process is root inside (known before the user exists). */
  rootInside: boolean;
  gid: () => number;
  home: () => string;
  /** The test user (created on first use), or undefined for root. */
  user: () => Promise<TestUser | undefined>;
  /** Run singlet (cwd /tmp unless given). */
  run: (args: string[], env?: Record<string, string>, cwd?: string) => Promise<Result>;
};

/** @returns The root runner. */
export function asRoot(): Runner {
  return {
    name: "root",
    uid: () => 0,
    inside: () => 0,
    rootInside: true,
    gid: () => 0,
    home: () => "/root",
    user: () => Promise.resolve(undefined),
    run: (args, env, cwd) => runSinglet(args, { env: { ...env }, cwd: cwd ?? "/tmp" }),
  };
}

/**
 * @param subids Whether the user has /etc/subuid and /etc/subgid ranges.
 * @returns A runner for an unprivileged test user.
 */
export function asUser(subids: boolean): Runner {
  let user: TestUser | undefined;
  const get = async () => user ??= await testUser({ subids });
  return {
    name: subids ? "an unprivileged user with subids" : "an unprivileged user without subids",
    uid: () => user!.uid,
    inside: () => subids ? user!.uid : 0,
    rootInside: !subids,
    gid: () => user!.gid,
    home: () => user!.home,
    user: get,
    run: async (args, env, cwd) =>
      await runAs(await get(), [SINGLET_BIN, ...args], {
        env: { NO_COLOR: "1", ...env },
        ...(cwd ? { cwd } : {}),
        timeoutMs: 60_000,
      }),
  };
}

/**
 * Assert a run succeeded.
 *
 * @param result The run.
 * @param what What it was, for the message.
 * @returns Its stdout.
 */
export function ok(result: Result, what: string): string {
  assert.equal(result.code, 0, `${what}: exit ${result.code}\n${result.stderr}`);
  return result.stdout;
}
