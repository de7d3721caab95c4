/**
 * The action script every container process starts with (SingularityCE's embedded
 * action script, in POSIX sh): it is passed as `/bin/sh -c SCRIPT ACTION ARGS...`, so
 * nothing has to be written into the image. See `env.ts` for the variables it reads.
 *
 * @module
 */

/** The script text (shellcheck-clean; `action_script_test.ts` runs shellcheck on it). */
export const ACTION_SCRIPT: string = `#!/bin/sh
# singlet's action script, run inside the container as
#   /bin/sh -c "<this script>" <action> [args...]
# It does what SingularityCE's embedded action script does in native mode: source the
# image's environment scripts in order, inject the user's variables right after
# 99-base.sh, apply the PATH overrides, re-export host variables the image left unset,
# then dispatch on the action (exec, run, shell, test).

singlet_action=\${0##*/}
singlet_inject=\${SINGLET_ENV_INJECT-}
singlet_restore=\${SINGLET_ENV_RESTORE-}
unset SINGLET_ENV_INJECT SINGLET_ENV_RESTORE
singlet_default_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
singlet_injected=
# the shell's own default prompt, to tell it from one the image or the user chose
singlet_ps1_default=\${PS1-}

singlet_inject_user_env() {
    if [ -z "$singlet_injected" ]; then
        singlet_injected=1
        eval "$singlet_inject"
    fi
}

# Docker ENV may set a PATH without the usual directories: add the missing ones.
singlet_complete_path() {
    singlet_ifs=$IFS
    IFS=:
    for singlet_dir in $singlet_default_path; do
        case ":$PATH:" in
            *":$singlet_dir:"*) ;;
            *) PATH=$PATH:$singlet_dir ;;
        esac
    done
    IFS=$singlet_ifs
    export PATH
}

# --app NAME (SINGULARITY_APPNAME): the image's 95-apps.sh activates the app; images
# without one get the same here, before 99-base.sh. Either way the active app's SCIF_APP*
# variables follow.
singlet_app_done=
singlet_activate_app() {
    if [ -z "\${SINGULARITY_APPNAME-}" ] || [ -n "$singlet_app_done" ]; then
        return 0
    fi
    singlet_app_done=1
    singlet_app=/scif/apps/$SINGULARITY_APPNAME
    if [ -z "\${singlet_app_sourced-}" ]; then
        if [ ! -d "$singlet_app/" ]; then
            echo "Could not locate the container application: $SINGULARITY_APPNAME" >&2
            exit 1
        fi
        SCIF_APPS=/scif/apps
        SCIF_APPROOT=$singlet_app
        PATH=$singlet_app:$PATH
        [ ! -d "$singlet_app/bin" ] || PATH=$singlet_app/bin:$PATH
        if [ -d "$singlet_app/lib" ]; then
            LD_LIBRARY_PATH=$singlet_app/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            export LD_LIBRARY_PATH
        fi
        export SINGULARITY_APPNAME SCIF_APPS SCIF_APPROOT PATH
        for singlet_app_env in "$singlet_app"/scif/env/*.sh; do
            if [ -f "$singlet_app_env" ]; then
                # shellcheck disable=SC1090
                . "$singlet_app_env"
            fi
        done
    fi
    SCIF_APPNAME=$SINGULARITY_APPNAME
    SCIF_APPROOT=$singlet_app
    SCIF_APPMETA=$singlet_app/scif
    SCIF_APPBIN=$singlet_app/bin
    SCIF_APPLIB=$singlet_app/lib
    SCIF_DATA=/scif/data
    SCIF_APPDATA=/scif/data/$SINGULARITY_APPNAME
    SCIF_APPINPUT=$SCIF_APPDATA/input
    SCIF_APPOUTPUT=$SCIF_APPDATA/output
    SCIF_APPENV=$singlet_app/scif/env/90-environment.sh
    SCIF_APPLABELS=$singlet_app/scif/labels.json
    SCIF_APPRUN=$singlet_app/scif/runscript
    SCIF_APPTEST=$singlet_app/scif/test
    SCIF_APPHELP=$singlet_app/scif/runscript.help
    SCIF_APPSTART=$singlet_app/scif/startscript
    export SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_APPBIN SCIF_APPLIB SCIF_DATA \\
        SCIF_APPDATA SCIF_APPINPUT SCIF_APPOUTPUT SCIF_APPENV SCIF_APPLABELS SCIF_APPRUN \\
        SCIF_APPTEST SCIF_APPHELP SCIF_APPSTART
}

if [ -d /.singularity.d/env ]; then
    for singlet_script in /.singularity.d/env/*.sh; do
        [ -f "$singlet_script" ] || continue
        case $singlet_script in
            */99-runtimevars.sh) continue ;;
            */99-base.sh) singlet_activate_app ;;
        esac
        # shellcheck disable=SC1090
        . "$singlet_script"
        case $singlet_script in
            */10-docker2singularity.sh | */10-docker.sh) singlet_complete_path ;;
            */95-apps.sh) singlet_app_sourced=1 ;;
            */99-base.sh) singlet_inject_user_env ;;
        esac
    done
elif [ -f /environment ]; then
    # shellcheck disable=SC1091
    . /environment
fi
singlet_activate_app
singlet_inject_user_env

if [ -n "\${SING_USER_DEFINED_PATH-}" ]; then
    PATH=$SING_USER_DEFINED_PATH
fi
if [ -n "\${SING_USER_DEFINED_PREPEND_PATH-}" ]; then
    PATH=$SING_USER_DEFINED_PREPEND_PATH:$PATH
fi
if [ -n "\${SING_USER_DEFINED_APPEND_PATH-}" ]; then
    PATH=$PATH:$SING_USER_DEFINED_APPEND_PATH
fi
unset SING_USER_DEFINED_PATH SING_USER_DEFINED_PREPEND_PATH SING_USER_DEFINED_APPEND_PATH
export PATH

eval "$singlet_restore"

case \${PS1-} in
    "" | "$singlet_ps1_default" | "Singularity> " | "Apptainer> ") PS1="Singlet> " ;;
esac
export PS1

unset singlet_inject singlet_restore singlet_injected singlet_script singlet_default_path singlet_ps1_default
unset singlet_app singlet_app_done singlet_app_sourced singlet_app_env

# As PID 1 of the container's PID namespace the payload would ignore every signal it has
# no handler for (SIGTERM from a batch system included). So it runs as a child, in the
# foreground (a background child of a shell starts with SIGINT and SIGQUIT ignored), and
# singlet sends signals to the container's process group, as a terminal does; PID 1 only
# has to survive them: a handler, not an ignore, which the payload would inherit. When
# PID 1 exits the kernel ends whatever the payload left behind.
singlet_run() {
    if [ "\$\$" != 1 ]; then
        exec "\$@"
    fi
    trap : HUP INT QUIT TERM USR1 USR2
    # the shell's own stderr goes to /dev/null: some shells (BusyBox ash) report a
    # foreground child killed by a signal ("Terminated"), which the user's shell would not
    # (the payload, exec'd in a subshell, gets the real stderr back)
    exec 4>&2 2>/dev/null
    (exec "\$@" 2>&4 4>&-)
    exit \$?
}

case $singlet_action in
    exec)
        if ! command -v "$1" >/dev/null 2>&1; then
            echo "FATAL:   \\"$1\\": executable file not found in \\$PATH" >&2
            exit 255
        fi
        singlet_run "$@"
        ;;
    run)
        if [ -n "\${SINGULARITY_APPNAME-}" ]; then
            singlet_runscript=/scif/apps/$SINGULARITY_APPNAME/scif/runscript
            if [ -x "$singlet_runscript" ]; then
                singlet_run "$singlet_runscript" "$@"
            elif [ -f "$singlet_runscript" ]; then
                singlet_run /bin/sh "$singlet_runscript" "$@"
            fi
            echo "No runscript for contained app: $SINGULARITY_APPNAME" >&2
            exit 1
        fi
        for singlet_runscript in /.singularity.d/runscript /singularity; do
            if [ -x "$singlet_runscript" ]; then
                singlet_run "$singlet_runscript" "$@"
            elif [ -f "$singlet_runscript" ]; then
                singlet_run /bin/sh "$singlet_runscript" "$@"
            fi
        done
        echo "There is no runscript defined for this container" >&2
        singlet_run /bin/sh "$@"
        ;;
    shell)
        if [ -n "\${SINGULARITY_SHELL-}" ]; then
            singlet_run "$SINGULARITY_SHELL" "$@"
        elif [ -x /bin/bash ]; then
            singlet_run /bin/bash --norc "$@"
        fi
        singlet_run /bin/sh "$@"
        ;;
    test)
        if [ -n "\${SINGULARITY_APPNAME-}" ]; then
            singlet_test=/scif/apps/$SINGULARITY_APPNAME/scif/test
            if [ -x "$singlet_test" ]; then
                singlet_run "$singlet_test" "$@"
            elif [ -f "$singlet_test" ]; then
                singlet_run /bin/sh "$singlet_test" "$@"
            fi
            echo "No tests for contained app: $SINGULARITY_APPNAME" >&2
            exit 1
        fi
        if [ -x /.singularity.d/test ]; then
            singlet_run /.singularity.d/test "$@"
        elif [ -f /.singularity.d/test ]; then
            singlet_run /bin/sh /.singularity.d/test "$@"
        fi
        echo "No test found in container, exiting" >&2
        exit 0
        ;;
esac
echo "singlet: unknown action '$singlet_action'" >&2
exit 255
`;

/** The actions the script dispatches on. */
export type Action = "exec" | "run" | "shell" | "test";
