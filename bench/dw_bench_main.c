/*
 * dw_bench_main.c — the `dw-bench` program: everything happens in dw_bench_main.
 */
#include <stdio.h>

#include "dw_bench.h"

int main(int argc, char **argv)
{
    return dw_bench_main(argc, argv, stdout, stderr);
}
