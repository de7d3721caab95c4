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

if [ -d /.singularity.d/env ]; then
    for singlet_script in /.singularity.d/env/*.sh; do
        [ -f "$singlet_script" ] || continue
        case $singlet_script in
            */99-runtimevars.sh) continue ;;
        esac
        # shellcheck disable=SC1090
        . "$singlet_script"
        case $singlet_script in
            */10-docker2singularity.sh | */10-docker.sh) singlet_complete_path ;;
            */99-base.sh) singlet_inject_user_env ;;
        esac
    done
elif [ -f /environment ]; then
    # shellcheck disable=SC1091
    . /environment
fi
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

# As PID 1 of the container's PID namespace the payload would ignore every signal it has
# no handler for (SIGTERM from a batch system included): run it as a child instead and
# pass signals on; when PID 1 exits the kernel ends whatever the payload left behind.
singlet_run() {
    if [ "\$\$" != 1 ]; then
        exec "\$@"
    fi
    exec 3<&0
    "\$@" 0<&3 3<&- &
    singlet_child=\$!
    exec 3<&-
    trap 'kill -HUP "\$singlet_child" 2>/dev/null' HUP
    trap 'kill -INT "\$singlet_child" 2>/dev/null' INT
    trap 'kill -QUIT "\$singlet_child" 2>/dev/null' QUIT
    trap 'kill -TERM "\$singlet_child" 2>/dev/null' TERM
    trap 'kill -USR1 "\$singlet_child" 2>/dev/null' USR1
    trap 'kill -USR2 "\$singlet_child" 2>/dev/null' USR2
    while :; do
        wait "\$singlet_child"
        singlet_status=\$?
        if ! kill -0 "\$singlet_child" 2>/dev/null; then
            exit "\$singlet_status"
        fi
    done
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
