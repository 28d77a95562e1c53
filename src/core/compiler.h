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

/* Tells the CPU the thread is spinning on a shared word (x86 PAUSE, Arm YIELD): the
 * sibling hyper-thread gets the core, and leaving the loop does not flush the pipeline. */
static inline void dw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* DW_CORE_COMPILER_H */
