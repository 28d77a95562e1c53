/*
 * cli.h — the command-line programs, `dw` and `dw-bench`: dispatch, the manual, shared
 * option handling, and the commands of `dw`.
 *
 * A program is a table of commands (dw_cli_program); dw_cli_run parses the global
 * options, finds the command and runs it with the output streams passed in, so tests
 * drive a whole program in-process (and under the sanitizers) exactly as a user would from
 * a shell. Commands never call exit(); they return one of the documented exit codes.
 */
#ifndef DW_CLI_CLI_H
#define DW_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "dwvd.h"

/* The documented exit codes of `dw`. */
enum dw_exit {
    DW_EXIT_OK = 0,          /* the command did what was asked */
    DW_EXIT_FAILURE = 1,     /* an operational error: I/O, permissions, resources */
    DW_EXIT_USAGE = 2,       /* wrong usage or an invalid configuration */
    DW_EXIT_PROBLEMS = 3,    /* a verification ran and found problems */
    DW_EXIT_NOT_VDE = 4,     /* the file is not a DWVD file */
    DW_EXIT_VERSION = 5,     /* a newer format version or an unknown incompatible feature */
    DW_EXIT_TRUNCATED = 6,   /* the file is shorter than the VDE it holds */
    DW_EXIT_LOCKED = 7,      /* the VDE is open in another process */
    DW_EXIT_DAMAGED = 8,     /* committed data failed its checksum */
};

/* At most this many --set options on one command line. */
#define DW_CLI_SETS_MAX 64
/* At most this many words and options left for a command after the global ones. */
#define DW_CLI_ARGUMENTS_MAX 64

struct dw_cli_command;

/* A program: its name (in every hint and manual), what its manual says around the
 * command list, and its commands in the order the manual lists them. The commands
 * `help` and `version` are the program's too (dw_cli_command_help, _version). */
typedef struct dw_cli_program {
    const char *name;                         /* "dw" */
    const char *title;                        /* after "NAME\n    dw - " */
    const char *description;                  /* the DESCRIPTION paragraphs, indented */
    const char *examples;                     /* the EXAMPLES lines, indented */
    const char *first_example;                /* what to type first: "config check FILE" */
    const char *exit_status;                  /* the EXIT STATUS section, heading included */
    const struct dw_cli_command *const *commands;
    size_t command_count;
} dw_cli_program;

typedef struct dw_cli {
    const dw_cli_program *program;
    FILE *out;
    FILE *err;
    const char *config_path;                  /* --config FILE, or NULL */
    const char *sets[DW_CLI_SETS_MAX];        /* --set SECTION.KEY=VALUE, in order */
    int set_count;
} dw_cli;

typedef struct dw_cli_command {
    const char *noun;        /* "config" */
    const char *verb;        /* "check", or NULL for a one-word command */
    const char *synopsis;    /* "dw config check [OPTIONS] FILE" */
    const char *summary;     /* one line for the command list */
    const char *help;        /* DESCRIPTION, OPTIONS and EXAMPLES, man-page style */
    int (*run)(dw_cli *cli, int argument_count, char **arguments);
} dw_cli_command;

/* Runs `program` with argv as a shell would pass it; returns the exit code. */
int dw_cli_run(const dw_cli_program *program, int argc, char **argv, FILE *out, FILE *err);

/* Runs `dw` (dw.c). */
int dw_cli_main(int argc, char **argv, FILE *out, FILE *err);

/* `PROGRAM help [COMMAND [VERB]]` and `PROGRAM version`, for every program's table. */
extern const dw_cli_command dw_cli_command_help;
extern const dw_cli_command dw_cli_command_version;

/* The EXIT STATUS section of `dw`, whose codes every program keeps. */
extern const char dw_cli_exit_status_text[];

/* The exit code for an engine error: a path that names nothing, an invalid argument or
 * configuration is the user's to fix (DW_EXIT_USAGE); anything else is operational
 * (DW_EXIT_FAILURE). */
int dw_cli_exit_code(int error);

/* Prints "dw: MESSAGE" and, when hint is not NULL, "hint: HINT" to standard error. */
void dw_cli_error(const dw_cli *cli, const char *hint, const char *format, ...) DW_PRINTF(3, 4);

/* Prints a dw_diag as an error line and its hint. */
void dw_cli_error_diag(const dw_cli *cli, const dw_diag *diag);

/* Reports wrong usage of `command` (an unknown option, a missing argument) with a hint
 * pointing at its --help, and returns DW_EXIT_USAGE. */
int dw_cli_usage_error(const dw_cli *cli, const dw_cli_command *command, const char *format, ...)
    DW_PRINTF(3, 4);

/* Builds the effective configuration in order: defaults, the FILE (when not NULL), the
 * environment (DW_LOG_LEVEL), then each --set; then checks combinations. Every problem
 * found is printed to standard error. Returns DW_EXIT_OK, DW_EXIT_USAGE (problems) or
 * DW_EXIT_FAILURE (the file exists but could not be read). */
int dw_cli_load_config(const dw_cli *cli, const char *file, dw_config *config,
                       dw_config_report *report);

/* The second half of dw_cli_load_config, for a caller that loaded its base
 * configuration from elsewhere (an embedded default): the environment, --set, and the
 * check of combinations; problems are printed. Returns DW_EXIT_OK or DW_EXIT_USAGE. */
int dw_cli_finish_config(const dw_cli *cli, dw_config *config, dw_config_report *report);

/* Prints every problem of a report, one per line, and a count of those not stored. */
void dw_cli_print_problems(const dw_cli *cli, const dw_config_report *report);

/* Parses a whole number for `option` in minimum..maximum; on failure reports a usage
 * error naming the option and the range, and returns DW_EXIT_USAGE. */
int dw_cli_parse_number(const dw_cli *cli, const dw_cli_command *command, const char *option,
                        const char *text, uint64_t minimum, uint64_t maximum, uint64_t *value);

/* The value of option `arguments[*index]`: the next argument, which must exist. Advances
 * *index past it. Reports a usage error and returns NULL when it is missing. */
const char *dw_cli_option_value(const dw_cli *cli, const dw_cli_command *command,
                                int argument_count, char **arguments, int *index);

/* One option a command takes. A flag (value == NULL) sets *flag when given; an option
 * with a value (flag == NULL) takes the next argument into *value (the last one given
 * wins). `names` lists its spellings separated by '|': "-o|--output". */
typedef struct dw_cli_option {
    const char *names;
    bool *flag;
    const char **value;
} dw_cli_option;

/* Sorts a command's arguments into its options and, in order, at most positional_max
 * positional arguments (a lone "-" is positional). An unknown option, an option missing
 * its value, or one positional argument too many is a usage error: printed, and
 * DW_EXIT_USAGE returned. positional and positional_count may be NULL when
 * positional_max is 0. */
int dw_cli_parse_options(const dw_cli *cli, const dw_cli_command *command, int argument_count,
                         char **arguments, const dw_cli_option *options, size_t option_count,
                         const char **positional, size_t positional_max, size_t *positional_count);

/* Writes `text` as a JSON string, quotes included: control characters, quotes and
 * backslashes escaped (file names may hold any of them). */
void dw_cli_json_string(FILE *out, const char *text);

/* The commands of `dw`, defined in their own files. */
extern const dw_cli_command dw_command_config_check;
extern const dw_cli_command dw_command_config_show;
extern const dw_cli_command dw_command_demo;
extern const dw_cli_command dw_command_wcet;
extern const dw_cli_command dw_command_replay_compare;
extern const dw_cli_command dw_command_replay_show;
extern const dw_cli_command dw_command_replay_verify;
extern const dw_cli_command dw_command_vde_create;
extern const dw_cli_command dw_command_vde_inspect;
extern const dw_cli_command dw_command_vde_verify;
extern const dw_cli_command dw_command_put;
extern const dw_cli_command dw_command_get;
extern const dw_cli_command dw_command_ls;
extern const dw_cli_command dw_command_rm;
extern const dw_cli_command dw_command_stat;
extern const dw_cli_command dw_command_tag;

#endif /* DW_CLI_CLI_H */
