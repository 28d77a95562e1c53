/*
 * main.c — the `dw` program: everything happens in dw_cli_main.
 */
#include <stdio.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    return dw_cli_main(argc, argv, stdout, stderr);
}
