/*
 * config.h — the internal side of dw_config: the key table, printing, and value parsing
 * helpers shared with the CLI. The public side (the struct, loading, validation, the
 * problem report) is in dwvd.h.
 */
#ifndef DW_CORE_CONFIG_H
#define DW_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dwvd.h"

/* Prints the configuration as an INI file that dw_config_load_file reads back to the
 * same values, each key with a comment saying where its value came from (a file and line,
 * the command line, the environment or the default) and what it means. */
void dw_config_print(const dw_config *config, const dw_config_report *report, FILE *out);

/* Like dw_config_load_file, on an open stream (an embedded default, a pipe); `name`
 * stands for the file in problems and origins. The stream stays open. */
int dw_config_load_stream(dw_config *config, FILE *file, const char *name,
                          dw_config_report *report, dw_diag *diag);

/* The number of keys, and the `section.key` name of key `index` (for docs and tests). */
size_t dw_config_key_count(void);
const char *dw_config_key_section(size_t index);
const char *dw_config_key_name(size_t index);

#endif /* DW_CORE_CONFIG_H */
