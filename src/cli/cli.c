/*
 * cli.c — `dw`: global options, command dispatch, help, and the helpers every command
 * shares (error lines with hints, configuration loading).
 *
 * Usage errors always exit 2 with one line saying what is wrong and a hint saying what
 * to type instead; nothing here ever calls exit() or prints a stack of messages.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/config.h"
#include "core/text.h"

static int run_help(dw_cli *cli, int argument_count, char **arguments);
static int run_version(dw_cli *cli, int argument_count, char **arguments);

/* Shared by every program, so their synopses leave the program's name out; the manual
 * puts it in front (print_command_help). */
const dw_cli_command dw_cli_command_help = {
    .noun = "help",
    .synopsis = "help [COMMAND [VERB]]",
    .summary = "show the manual of this program or of one command",
    .help = "DESCRIPTION\n"
            "    Prints the same text as 'COMMAND [VERB] --help'.\n"
            "\n"
            "EXAMPLES\n"
            "    dw help\n"
            "    dw help config check\n"
            "    dw-bench help pool\n",
    .run = run_help,
};

const dw_cli_command dw_cli_command_version = {
    .noun = "version",
    .synopsis = "version",
    .summary = "print the version of this program and of the dwvd library",
    .help = "DESCRIPTION\n"
            "    Prints the version of this program and of the dwvd library it runs on;\n"
            "    '--version' does the same.\n",
    .run = run_version,
};

const char dw_cli_exit_status_text[] =
    "EXIT STATUS\n"
    "    0   success\n"
    "    1   operational error: a file could not be read or written, a resource ran out\n"
    "    2   usage error or invalid configuration: nothing was done\n"
    "    3   a verification ran and found problems (verification commands)\n"
    "    4   the file is not a DWVD file (for a raw disk image, see dw import)\n"
    "    5   the VDE needs a newer dw: a newer format or an unknown incompatible feature\n"
    "    6   the file is shorter than the VDE it holds: truncated\n"
    "    7   the VDE is open in another process\n"
    "    8   committed data is damaged (failed its checksum): run dw vde verify\n";

static const char global_options_text[] =
    "GLOBAL OPTIONS\n"
    "    -c, --config FILE\n"
    "        Read the configuration from FILE (INI) instead of the built-in defaults.\n"
    "    -s, --set SECTION.KEY=VALUE\n"
    "        Override one key, after the file and the environment; may be repeated.\n"
    "    -h, --help\n"
    "        Show the manual of the program, or of the command named before it.\n"
    "    -V, --version\n"
    "        Print the version and exit.\n";

static void print_main_help(const dw_cli_program *program, FILE *out)
{
    (void)fprintf(out,
                  "NAME\n"
                  "    %s - %s\n"
                  "\n"
                  "SYNOPSIS\n"
                  "    %s [GLOBAL OPTIONS] COMMAND [VERB] [ARGUMENTS]\n"
                  "    %s --help | --version\n"
                  "\n"
                  "DESCRIPTION\n"
                  "%s"
                  "\n"
                  "COMMANDS\n",
                  program->name, program->title, program->name, program->name, program->description);
    for (size_t i = 0; i < program->command_count; i++) {
        const dw_cli_command *command = program->commands[i];
        char name[48];
        dw_format(name, sizeof name, "%s%s%s", command->noun, command->verb != NULL ? " " : "",
                  command->verb != NULL ? command->verb : "");
        (void)fprintf(out, "    %-16s %s\n", name, command->summary);
    }
    (void)fprintf(out,
                  "\n%s\n%s\n"
                  "ENVIRONMENT\n"
                  "    DW_LOG_LEVEL\n"
                  "        Overrides log.level: trace, debug, info, warn or error. --set wins\n"
                  "        over it; it wins over the configuration file.\n"
                  "\n"
                  "FILES\n"
                  "    Configuration files are INI: [section] headers and key = value lines;\n"
                  "    'dw config show' prints every key with its default and range, and\n"
                  "    docs/CONFIG.md describes them.\n"
                  "\n"
                  "EXAMPLES\n"
                  "%s",
                  global_options_text, program->exit_status, program->examples);
}

/* A synopsis names its program, except those of the shared commands (help, version). */
static void print_synopsis(FILE *out, const dw_cli_program *program, const dw_cli_command *command)
{
    size_t length = strlen(program->name);
    bool named = strncmp(command->synopsis, program->name, length) == 0 && command->synopsis[length] == ' ';
    (void)fprintf(out, "    %s%s%s\n", named ? "" : program->name, named ? "" : " ", command->synopsis);
}

static void print_command_help(const dw_cli_program *program, FILE *out, const dw_cli_command *command)
{
    (void)fprintf(out, "NAME\n    %s %s%s%s - %s\n\nSYNOPSIS\n", program->name, command->noun,
                  command->verb != NULL ? " " : "", command->verb != NULL ? command->verb : "", command->summary);
    print_synopsis(out, program, command);
    (void)fprintf(out, "\n%s\n%s", command->help, program->exit_status);
    (void)fprintf(out, "\nGlobal options (--config, --set, --help) apply too; see '%s --help'.\n", program->name);
}

/* The manual of a noun with verbs: the verbs and their summaries. */
static void print_noun_help(const dw_cli_program *program, FILE *out, const char *noun)
{
    (void)fprintf(out, "NAME\n    %s %s - the %s commands\n\nSYNOPSIS\n", program->name, noun, noun);
    for (size_t i = 0; i < program->command_count; i++) {
        if (strcmp(program->commands[i]->noun, noun) == 0) {
            print_synopsis(out, program, program->commands[i]);
        }
    }
    (void)fprintf(out, "\nVERBS\n");
    for (size_t i = 0; i < program->command_count; i++) {
        if (strcmp(program->commands[i]->noun, noun) == 0) {
            (void)fprintf(out, "    %-8s %s\n", program->commands[i]->verb, program->commands[i]->summary);
        }
    }
    (void)fprintf(out, "\nRun '%s %s VERB --help' for the manual of one verb.\n\n%s", program->name, noun,
                  program->exit_status);
}

int dw_cli_exit_code(int error)
{
    if (error == DW_OK) {
        return DW_EXIT_OK;
    }
    return error == DW_EINVAL || error == DW_ENOENT || error == DW_ECONFIG ? DW_EXIT_USAGE
                                                                            : DW_EXIT_FAILURE;
}

void dw_cli_error(const dw_cli *cli, const char *hint, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    (void)fprintf(cli->err, "%s: ", cli->program->name);
    (void)vfprintf(cli->err, format, arguments);
    (void)fputc('\n', cli->err);
    va_end(arguments);
    if (hint != NULL && hint[0] != '\0') {
        (void)fprintf(cli->err, "hint: %s\n", hint);
    }
}

void dw_cli_error_diag(const dw_cli *cli, const dw_diag *diag)
{
    dw_cli_error(cli, diag->hint, "%s", diag->message);
}

int dw_cli_usage_error(const dw_cli *cli, const dw_cli_command *command, const char *format, ...)
{
    char message[512];
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    char hint[128];
    dw_format(hint, sizeof hint, "run '%s %s%s%s --help' for its usage", cli->program->name, command->noun,
              command->verb != NULL ? " " : "", command->verb != NULL ? command->verb : "");
    dw_cli_error(cli, hint, "%s", message);
    return DW_EXIT_USAGE;
}

void dw_cli_print_problems(const dw_cli *cli, const dw_config_report *report)
{
    /* The report stores the first DW_CONFIG_PROBLEMS_MAX problems and counts the rest. */
    uint32_t stored = report->problem_count;
    if (stored > DW_CONFIG_PROBLEMS_MAX) {
        stored = DW_CONFIG_PROBLEMS_MAX;
    }
    for (uint32_t i = 0; i < stored; i++) {
        char line[1024];
        (void)dw_config_problem_format(report, i, line, sizeof line);
        (void)fprintf(cli->err, "%s\n", line);
    }
    if (report->problem_count > stored) {
        (void)fprintf(cli->err, "... and %u more problems not shown; fix these first\n",
                      report->problem_count - stored);
    }
}

int dw_cli_finish_config(const dw_cli *cli, dw_config *config, dw_config_report *report)
{
    const char *level = getenv("DW_LOG_LEVEL");
    if (level != NULL && level[0] != '\0') {
        char assignment[DW_CONFIG_VALUE_MAX + 16];
        dw_format(assignment, sizeof assignment, "log.level=%s", level);
        (void)dw_config_set(config, assignment, "environment DW_LOG_LEVEL", report);
    }
    for (int i = 0; i < cli->set_count; i++) {
        (void)dw_config_set(config, cli->sets[i], "--set", report);
    }
    /* Combinations are checked even after problems with single keys, so that one run
     * lists everything; a key that failed keeps its previous value meanwhile. */
    (void)dw_config_validate(config, report);
    if (report->problem_count > 0) {
        dw_cli_print_problems(cli, report);
        return DW_EXIT_USAGE;
    }
    return DW_EXIT_OK;
}

int dw_cli_load_config(const dw_cli *cli, const char *file, dw_config *config,
                       dw_config_report *report)
{
    dw_config_defaults(config);
    dw_config_report_init(report);
    if (file != NULL) {
        dw_diag diag;
        dw_diag_clear(&diag);
        int result = dw_config_load_file(config, file, report, &diag);
        if (result != DW_OK && result != DW_ECONFIG) {
            dw_cli_error_diag(cli, &diag);
            return dw_cli_exit_code(result);
        }
    }
    return dw_cli_finish_config(cli, config, report);
}

int dw_cli_parse_number(const dw_cli *cli, const dw_cli_command *command, const char *option,
                        const char *text, uint64_t minimum, uint64_t maximum, uint64_t *value)
{
    char *end = NULL;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || parsed < minimum ||
        parsed > maximum) {
        return dw_cli_usage_error(cli, command, "%s takes a whole number from %llu to %llu, not '%s'",
                                  option, (unsigned long long)minimum,
                                  (unsigned long long)maximum, text);
    }
    *value = (uint64_t)parsed;
    return DW_EXIT_OK;
}

/* True when `argument` is one of the '|'-separated spellings in `names`. */
static bool option_named(const char *names, const char *argument)
{
    size_t length = strlen(argument);
    for (const char *name = names; name != NULL && *name != '\0';) {
        const char *end = strchr(name, '|');
        size_t name_length = end != NULL ? (size_t)(end - name) : strlen(name);
        if (name_length == length && strncmp(name, argument, length) == 0) {
            return true;
        }
        name = end != NULL ? end + 1 : NULL;
    }
    return false;
}

int dw_cli_parse_options(const dw_cli *cli, const dw_cli_command *command, int argument_count,
                         char **arguments, const dw_cli_option *options, size_t option_count,
                         const char **positional, size_t positional_max, size_t *positional_count)
{
    DW_ASSERT(positional_max == 0 || (positional != NULL && positional_count != NULL));
    if (positional_count != NULL) {
        *positional_count = 0;
    }
    for (int i = 0; i < argument_count; i++) {
        const char *argument = arguments[i];
        if (argument[0] != '-' || argument[1] == '\0') {
            if (positional_count == NULL || *positional_count == positional_max) {
                return dw_cli_usage_error(cli, command, "unexpected argument '%s'", argument);
            }
            positional[(*positional_count)++] = argument;
            continue;
        }
        const dw_cli_option *option = NULL;
        for (size_t k = 0; k < option_count && option == NULL; k++) {
            if (option_named(options[k].names, argument)) {
                option = &options[k];
            }
        }
        if (option == NULL) {
            return dw_cli_usage_error(cli, command, "unknown option '%s'", argument);
        }
        if (option->value == NULL) {
            *option->flag = true;
            continue;
        }
        const char *value = dw_cli_option_value(cli, command, argument_count, arguments, &i);
        if (value == NULL) {
            return DW_EXIT_USAGE;
        }
        *option->value = value;
    }
    return DW_EXIT_OK;
}

void dw_cli_json_string(FILE *out, const char *text)
{
    (void)fputc('"', out);
    for (const unsigned char *at = (const unsigned char *)text; *at != '\0'; at++) {
        if (*at == '"' || *at == '\\') {
            (void)fprintf(out, "\\%c", *at);
        } else if (*at < 0x20 || *at == 0x7f) {
            (void)fprintf(out, "\\u%04x", *at);
        } else {
            (void)fputc(*at, out);
        }
    }
    (void)fputc('"', out);
}

const char *dw_cli_option_value(const dw_cli *cli, const dw_cli_command *command,
                                int argument_count, char **arguments, int *index)
{
    if (*index + 1 >= argument_count) {
        (void)dw_cli_usage_error(cli, command, "option '%s' needs a value", arguments[*index]);
        return NULL;
    }
    *index += 1;
    return arguments[*index];
}

static const dw_cli_command *find_command(const dw_cli_program *program, const char *noun, const char *verb)
{
    for (size_t i = 0; i < program->command_count; i++) {
        const dw_cli_command *command = program->commands[i];
        if (strcmp(command->noun, noun) != 0) {
            continue;
        }
        if (command->verb == NULL || (verb != NULL && strcmp(command->verb, verb) == 0)) {
            return command;
        }
    }
    return NULL;
}

static bool noun_exists(const dw_cli_program *program, const char *noun, bool *has_verbs)
{
    for (size_t i = 0; i < program->command_count; i++) {
        if (strcmp(program->commands[i]->noun, noun) == 0) {
            *has_verbs = program->commands[i]->verb != NULL;
            return true;
        }
    }
    return false;
}

static int unknown_command(const dw_cli *cli, const char *noun)
{
    const dw_cli_program *program = cli->program;
    const char *suggestion = NULL;
    for (size_t i = 0; i < program->command_count && suggestion == NULL; i++) {
        if (dw_is_close_word(noun, program->commands[i]->noun)) {
            suggestion = program->commands[i]->noun;
        }
    }
    char hint[160];
    if (suggestion != NULL) {
        dw_format(hint, sizeof hint, "did you mean '%s %s'? Run '%s --help' for the commands", program->name,
                  suggestion, program->name);
    } else {
        dw_format(hint, sizeof hint, "run '%s --help' for the list of commands", program->name);
    }
    dw_cli_error(cli, hint, "unknown command '%s'", noun);
    return DW_EXIT_USAGE;
}

static int unknown_verb(const dw_cli *cli, const char *noun, const char *verb)
{
    const dw_cli_program *program = cli->program;
    char verbs[160] = "";
    const char *suggestion = NULL;
    size_t used = 0;
    for (size_t i = 0; i < program->command_count; i++) {
        const dw_cli_command *command = program->commands[i];
        if (strcmp(command->noun, noun) == 0 && command->verb != NULL && used + 1 < sizeof verbs) {
            dw_format(verbs + used, sizeof verbs - used, "%s%s", used > 0 ? ", " : "", command->verb);
            used = strlen(verbs);
            if (verb != NULL && dw_is_close_word(verb, command->verb)) {
                suggestion = command->verb;
            }
        }
    }
    char hint[256];
    if (suggestion != NULL) {
        dw_format(hint, sizeof hint, "did you mean '%s %s %s'? The verbs are: %s", program->name, noun, suggestion,
                  verbs);
    } else {
        dw_format(hint, sizeof hint, "the verbs of '%s' are: %s (see '%s %s --help')", noun, verbs, program->name,
                  noun);
    }
    if (verb == NULL) {
        dw_cli_error(cli, hint, "'%s %s' needs a verb", program->name, noun);
    } else {
        dw_cli_error(cli, hint, "unknown verb '%s' for '%s %s'", verb, program->name, noun);
    }
    return DW_EXIT_USAGE;
}

static int run_version(dw_cli *cli, int argument_count, char **arguments)
{
    if (argument_count > 0) {
        return dw_cli_usage_error(cli, &dw_cli_command_version, "unexpected argument '%s'", arguments[0]);
    }
    (void)fprintf(cli->out, "%s (dwvd) %s\nlibrary %s\n", cli->program->name, DW_VERSION_STRING, dw_version());
    return DW_EXIT_OK;
}

static int show_help_for(dw_cli *cli, const char *noun, const char *verb)
{
    const dw_cli_program *program = cli->program;
    bool has_verbs = false;
    if (noun == NULL) {
        print_main_help(program, cli->out);
        return DW_EXIT_OK;
    }
    if (!noun_exists(program, noun, &has_verbs)) {
        return unknown_command(cli, noun);
    }
    if (has_verbs && verb == NULL) {
        print_noun_help(program, cli->out, noun);
        return DW_EXIT_OK;
    }
    const dw_cli_command *command = find_command(program, noun, verb);
    if (command == NULL) {
        return unknown_verb(cli, noun, verb);
    }
    print_command_help(program, cli->out, command);
    return DW_EXIT_OK;
}

static int run_help(dw_cli *cli, int argument_count, char **arguments)
{
    if (argument_count > 2) {
        return dw_cli_usage_error(cli, &dw_cli_command_help, "too many arguments");
    }
    return show_help_for(cli, argument_count > 0 ? arguments[0] : NULL,
                         argument_count > 1 ? arguments[1] : NULL);
}
typedef struct parsed_arguments {
    bool help;
    bool version;
    int rest_count;
    char *rest[DW_CLI_ARGUMENTS_MAX];
} parsed_arguments;

/* Takes the global options out of argv wherever they are; what remains, in order, is
 * the command, its verb and its own arguments. Everything after "--" is left as is. */
static int parse_global_options(dw_cli *cli, int argc, char **argv, parsed_arguments *parsed)
{
    bool options_ended = false;
    for (int i = 1; i < argc; i++) {
        char *argument = argv[i];
        const char **value_slot = NULL;
        const char *option_value = NULL;
        if (!options_ended && strcmp(argument, "--") == 0) {
            options_ended = true;
            continue;
        }
        if (!options_ended && (strcmp(argument, "-h") == 0 || strcmp(argument, "--help") == 0)) {
            parsed->help = true;
            continue;
        }
        if (!options_ended &&
            (strcmp(argument, "-V") == 0 || strcmp(argument, "--version") == 0)) {
            parsed->version = true;
            continue;
        }
        bool is_config = strcmp(argument, "-c") == 0 || strcmp(argument, "--config") == 0;
        bool is_set = strcmp(argument, "-s") == 0 || strcmp(argument, "--set") == 0;
        if (!options_ended && strncmp(argument, "--config=", 9) == 0) {
            is_config = true;
            option_value = argument + 9;
        } else if (!options_ended && strncmp(argument, "--set=", 6) == 0) {
            is_set = true;
            option_value = argument + 6;
        }
        if (!options_ended && (is_config || is_set)) {
            if (option_value == NULL) {
                if (i + 1 >= argc) {
                    char hint[96];
                    dw_format(hint, sizeof hint, "run '%s --help' for the global options", cli->program->name);
                    dw_cli_error(cli, hint, "option '%s' needs a value", argument);
                    return DW_EXIT_USAGE;
                }
                option_value = argv[++i];
            }
            if (is_set && cli->set_count == DW_CLI_SETS_MAX) {
                dw_cli_error(cli, "put the settings in a configuration file instead",
                             "more than %d --set options", DW_CLI_SETS_MAX);
                return DW_EXIT_USAGE;
            }
            value_slot = is_config ? &cli->config_path : &cli->sets[cli->set_count++];
            *value_slot = option_value;
            continue;
        }
        if (parsed->rest_count == DW_CLI_ARGUMENTS_MAX) {
            dw_cli_error(cli, NULL, "more than %d arguments", DW_CLI_ARGUMENTS_MAX);
            return DW_EXIT_USAGE;
        }
        parsed->rest[parsed->rest_count++] = argument;
    }
    return DW_EXIT_OK;
}

int dw_cli_run(const dw_cli_program *program, int argc, char **argv, FILE *out, FILE *err)
{
    DW_ASSERT(program != NULL && program->command_count > 0);
    DW_ASSERT(argc >= 1 && argv != NULL && out != NULL && err != NULL);
    dw_cli cli = {.program = program, .out = out, .err = err};
    parsed_arguments parsed = {0};
    int exit_code = parse_global_options(&cli, argc, argv, &parsed);
    if (exit_code != DW_EXIT_OK) {
        return exit_code;
    }
    if (parsed.version) {
        return run_version(&cli, 0, NULL);
    }
    const char *noun = parsed.rest_count > 0 ? parsed.rest[0] : NULL;
    char hint[160];
    if (noun != NULL && noun[0] == '-') {
        dw_format(hint, sizeof hint, "run '%s --help' for the global options", program->name);
        dw_cli_error(&cli, hint, "unknown option '%s'", noun);
        return DW_EXIT_USAGE;
    }
    if (noun == NULL) {
        if (parsed.help) {
            return show_help_for(&cli, NULL, NULL);
        }
        dw_format(hint, sizeof hint, "run '%s --help' for the commands, e.g. '%s %s'", program->name, program->name,
                  program->first_example);
        dw_cli_error(&cli, hint, "no command given");
        return DW_EXIT_USAGE;
    }
    bool has_verbs = false;
    if (!noun_exists(program, noun, &has_verbs)) {
        return unknown_command(&cli, noun);
    }
    const char *verb = has_verbs && parsed.rest_count > 1 ? parsed.rest[1] : NULL;
    if (parsed.help) {
        return show_help_for(&cli, noun, verb);
    }
    const dw_cli_command *command = find_command(program, noun, verb);
    if (command == NULL) {
        return unknown_verb(&cli, noun, verb);
    }
    int consumed = has_verbs ? 2 : 1;
    return command->run(&cli, parsed.rest_count - consumed, parsed.rest + consumed);
}
