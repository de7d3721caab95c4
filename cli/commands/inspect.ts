/**
 * `singlet inspect`: show an image's labels, definition, scripts, environment and apps,
 * read straight from the image file (nothing is mounted or run), as `singularity inspect`.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { log, printOut } from "../_output.ts";
import { openImageFiles } from "../../core/image/image_files.ts";
import {
  inspectImage,
  inspectJSON,
  type InspectOptions,
  inspectText,
} from "../../core/image/inspect.ts";

interface InspectFlags {
  labels?: boolean;
  deffile?: boolean;
  json?: boolean;
  listApps?: boolean;
  app?: string;
  runscript?: boolean;
  startscript?: boolean;
  test?: boolean;
  environment?: boolean;
  helpfile?: boolean;
  all?: boolean;
}

/**
 * Register `singlet inspect`.
 *
 * @param program The root program.
 */
export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .usage("[inspect options...] <image path>")
    .summary("Show metadata for an image")
    .description(
      "Show metadata for an image\n\n" +
        "Inspect will show you labels, environment variables, apps and scripts associated\n" +
        "with the image determined by the flags passed. By default, they will be shown in\n" +
        "plain text. If you would like to list them in json format, you should use the\n" +
        "--json flag. The image is read directly: SIF, SquashFS or a sandbox directory.",
    )
    .argument("<image>", "the image to inspect")
    .option("-l, --labels", "show the labels for the image (default)")
    .option("-d, --deffile", "show the Singularity recipe file that was used to generate the image")
    .option("-j, --json", "print structured json instead of sections")
    .option("--list-apps", "list all apps in a container")
    .option("--app <name>", "inspect a specific app")
    .option("-r, --runscript", "show the runscript for the image")
    .option("-s, --startscript", "show the startscript for the image")
    .option("-t, --test", "show the test script for the image")
    .option("-e, --environment", "show the environment settings for the image")
    .option("-H, --helpfile", "inspect the runscript helpfile, if it exists")
    .option("--all", "show all available data (imply --json option)")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  $ singlet inspect ubuntu.sif\n" +
        "  $ singlet inspect --list-apps ubuntu.sif\n" +
        "  $ singlet inspect --app=foo --runscript ubuntu.sif\n" +
        "  $ singlet inspect --json --labels --deffile ubuntu.sif\n" +
        "  $ singlet inspect --all ubuntu.sif",
    )
    .action(action(async (image: string, flags: InspectFlags) => {
      const options: InspectOptions = {};
      for (
        const key of [
          "labels",
          "deffile",
          "runscript",
          "startscript",
          "test",
          "environment",
          "helpfile",
          "listApps",
          "all",
        ] as const
      ) {
        if (flags[key]) options[key] = true;
      }
      if (flags.app !== undefined && !flags.all) options.app = flags.app;
      const files = await openImageFiles(image);
      try {
        const { metadata, warnings } = await inspectImage(files, options);
        for (const warning of warnings) log.warning(warning);
        printOut(flags.json || flags.all ? inspectJSON(metadata) : inspectText(metadata, options));
      } finally {
        files.close();
      }
    }));
}
