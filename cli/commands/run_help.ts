/**
 * `singlet run-help`: print an image's (or an app's) `%help` text, as `singularity
 * run-help`, read straight from the image.
 *
 * @module
 */
import { action, type Command } from "../_command.ts";
import { log, printOut } from "../_output.ts";
import { openImageFiles } from "../../core/image/image_files.ts";
import { inspectImage, inspectText } from "../../core/image/inspect.ts";
import { SingletError } from "../../core/errors.ts";

const NO_HELP = "No help sections were defined for this image\n";

/**
 * Register `singlet run-help`.
 *
 * @param program The root program.
 */
export function registerRunHelp(program: Command): void {
  program
    .command("run-help")
    .usage("[run-help options...] <image path>")
    .summary("Show the user-defined help for an image")
    .description(
      "Show the user-defined help for an image\n\n" +
        "Show the help text defined in the %help section of the definition file the image\n" +
        "was built from (or the %apphelp section of an app, with --app).",
    )
    .argument("<image>", "the image")
    .option("--app <name>", "show the help for an app")
    .addHelpText(
      "after",
      "\nExamples:\n  $ singlet run-help ubuntu.sif\n  $ singlet run-help --app foo ubuntu.sif",
    )
    .action(action(async (image: string, flags: { app?: string }) => {
      const files = await openImageFiles(image);
      try {
        const options = flags.app ? { helpfile: true, app: flags.app } : { helpfile: true };
        let text = "";
        try {
          const { metadata } = await inspectImage(files, options);
          text = inspectText(metadata, options);
        } catch (error) {
          // SingularityCE answers an unknown app with the no-help message, exit 0.
          if (!(error instanceof SingletError) || !flags.app) throw error;
          log.warning(error.message);
        }
        printOut(text === "" ? NO_HELP : text);
      } finally {
        files.close();
      }
    }));
}
