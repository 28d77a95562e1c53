/*
 * compiler.h — the few compiler attributes dwvd uses, in one place, with plain
 * fallbacks for compilers that lack them.
 */
#ifndef DW_CORE_COMPILER_H
#define DW_CORE_COMPILER_H

#if defined(__GNUC__) || defined(__clang__)
#define DW_LIKELY(x) __builtin_expect(!!(x), 1)
#define DW_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Lets the compiler check a printf-style format against its arguments. */
#define DW_PRINTF(format_index, first_argument)                                            \
    __attribute__((format(printf, format_index, first_argument)))
#else
#define DW_LIKELY(x) (x)
#define DW_UNLIKELY(x) (x)
#define DW_PRINTF(format_index, first_argument)
#endif

#define DW_ARRAY_COUNT(array) (sizeof(array) / sizeof((array)[0]))

#endif /* DW_CORE_COMPILER_H */
