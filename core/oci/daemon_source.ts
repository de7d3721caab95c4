/**
 * `docker-daemon:NAME[:TAG]`: export an image from a local Docker daemon over its socket
 * (`GET /images/NAME/get`, the `docker save` format) into a temp file and read it as a
 * docker-archive. Without a reachable socket, a clear error says what to do instead.
 *
 * @module
 */
import { SingletError } from "../errors.ts";
import type { ImageSource } from "./image_source.ts";
import { openLayoutSource } from "./layout_source.ts";
import type { DaemonReference } from "./reference.ts";

/**
 * The Docker socket path from `DOCKER_HOST` (unix:// only) or the default.
 *
 * @param env Environment lookup.
 * @returns The socket path.
 */
export function dockerSocketPath(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): string {
  const host = env("DOCKER_HOST");
  if (host?.startsWith("unix://")) return host.slice("unix://".length);
  if (host) {
    throw new SingletError(`Cannot use DOCKER_HOST "${host}": only unix:// sockets are supported`, {
      hint: "save the image with 'docker save -o img.tar NAME' and pull docker-archive:img.tar",
      exitCode: 2,
    });
  }
  return "/var/run/docker.sock";
}

/**
 * Open an image held by the local Docker daemon.
 *
 * @param ref The reference.
 * @param env Environment lookup.
 * @returns The source (a docker-archive in a temp file, removed on close).
 */
export async function openDaemonSource(
  ref: DaemonReference,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<ImageSource> {
  const socket = dockerSocketPath(env);
  let isSocket = false;
  try {
    isSocket = (await Deno.stat(socket)).isSocket === true;
  } catch {
    isSocket = false;
  }
  if (!isSocket) {
    throw new SingletError(
      `Cannot pull "docker-daemon:${ref.image}": no Docker daemon socket at ${socket}`,
      {
        hint: "start Docker (or set DOCKER_HOST=unix://PATH), or run 'docker save -o img.tar " +
          `${ref.image}' and pull docker-archive:img.tar`,
        exitCode: 7,
      },
    );
  }
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  const dir = await Deno.makeTempDir({ prefix: "singlet-daemon-" });
  try {
    const response = await fetch(`http://docker/images/${encodeURIComponent(ref.image)}/get`, {
      client,
    });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new SingletError(
        `Cannot pull "docker-daemon:${ref.image}": the Docker daemon answered HTTP ${response.status}`,
        { hint: "check the image name with 'docker images'", exitCode: 5 },
      );
    }
    using file = await Deno.open(`${dir}/image.tar`, { write: true, createNew: true, mode: 0o600 });
    await response.body.pipeTo(file.writable, { preventClose: true });
    const inner = await openLayoutSource({ transport: "docker-archive", path: `${dir}/image.tar` });
    return {
      name: `docker-daemon:${ref.image}`,
      topManifest: (s) => inner.topManifest(s),
      manifest: (d, s) => inner.manifest(d, s),
      smallBlob: (d) => inner.smallBlob(d),
      blobSource: (d) => inner.blobSource(d),
      resumable: (e) => inner.resumable(e),
      close: async () => {
        await inner.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  } finally {
    client.close();
  }
}
