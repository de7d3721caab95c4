/**
 * `build --section NAME[,NAME...]`: which parts of a definition a build runs, as
 * SingularityCE's `Bundle.RunSection` decides (the first `none` turns everything off, the
 * first `all` everything on, otherwise only the names given; no flag is `all`).
 *
 * What each name governs (SingularityCE 4.x `build.go`, `stage.go`, `metadata.go`):
 *
 * | name | effect when left out |
 * | --- | --- |
 * | `pre`, `setup` | the host script does not run |
 * | `files` | `%files` (host and `from <stage>`) and `%appfiles` are not copied |
 * | `post` | `%post` and the `%appinstall` scripts (SingularityCE appends those to `%post`) do not run |
 * | `environment` | `90-environment.sh` is left as it is |
 * | `runscript`, `startscript`, `test` | the script in `/.singularity.d` is left as it is; without `test`, `%test` does not run either |
 * | `help` | `runscript.help` and the `org.label-schema.usage*` labels are left out |
 * | `labels` | `%labels` are not added (labels from the base, `%post` and the build labels still are) |
 *
 * Deliberate differences: SingularityCE 4.x runs `%post` and `%test` whatever `--section`
 * says (3.x did not; its help still lists `post` and `test`): singlet honours both. An
 * unknown name is a usage error here (SingularityCE silently matches nothing).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Stage } from "./deffile.ts";

/** The names `--section` accepts. */
export const SECTION_NAMES: readonly string[] = [
  "all",
  "none",
  "pre",
  "setup",
  "files",
  "post",
  "appinstall",
  "environment",
  "runscript",
  "startscript",
  "test",
  "help",
  "labels",
];

/**
 * Turn `--section` values into the question "does this section run?".
 *
 * @param sections The names given (comma lists already split); empty or absent: all.
 * @returns A predicate on section names (`appinstall` follows `post` unless named itself).
 * @throws {UsageError} On a name that is not a section.
 */
export function sectionFilter(sections: readonly string[] | undefined): (name: string) => boolean {
  const list = (sections ?? []).map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const name of list) {
    if (!SECTION_NAMES.includes(name)) {
      throw new UsageError(
        `Cannot build only section "${name}": no such section`,
        `--section takes ${SECTION_NAMES.join(", ")}`,
      );
    }
  }
  if (list.length === 0) return () => true;
  const runs = (name: string): boolean => {
    for (const section of list) {
      if (section === "none") return false;
      if (section === "all" || section === name) return true;
    }
    return false;
  };
  return (name) => name === "appinstall" ? runs("appinstall") || runs("post") : runs(name);
}

/**
 * The stage as the metadata step should see it: sections `--section` leaves out removed,
 * so `/.singularity.d` keeps what it had for them.
 *
 * @param stage The stage.
 * @param wanted The predicate from {@linkcode sectionFilter}.
 * @returns The stage itself when nothing is left out, else a filtered copy.
 */
export function metadataStage(stage: Stage, wanted: (name: string) => boolean): Stage {
  const names = ["help", "environment", "runscript", "startscript", "test"] as const;
  if (names.every((n) => wanted(n)) && wanted("labels")) return stage;
  const sections = { ...stage.sections };
  for (const name of names) if (!wanted(name)) delete sections[name];
  if (!wanted("labels")) sections.labels = new Map();
  return { ...stage, sections };
}
