/*
 * version.c — the version of the library that is actually linked.
 */
#include "dwvd.h"

DW_API const char *dw_version(void)
{
    return DW_VERSION_STRING;
}
