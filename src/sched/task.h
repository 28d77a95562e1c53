/*
 * task.h — a unit of CPU work for the deterministic scheduler, and the guards it needs.
 *
 * A task has an id (which also picks its core), a budget in CPU ticks, a priority (high,
 * normal, low), up to DW_TASK_GUARDS_MAX guards, and work: a function and its argument
 * that return the task's result hash. The work must be a pure function of its argument
 * and the task id: it runs on whichever core the id picks, at whatever moment, while
 * other tasks run on other cores.
 *
 * C cannot make a priority or a guard count a type, so a task can only be made by
 * dw_task_build, which checks them and seals the task: the seal is a hash of every field,
 * and the scheduler refuses a task whose fields no longer match it. Writing the fields
 * by hand, or changing them after the build, gives a task the scheduler will not take.
 *
 * Guards are conditions a task needs to hold before it may run ("the extent is still
 * allocated", "the device is not read-only"). They are registered once, by name, in a
 * guard table; a task names them by id. The scheduler refuses a task that names a guard
 * the table does not have, and runs each guard's check when the task is enqueued, on
 * the driving thread, in program order — so a check may read the driving thread's state
 * and the outcome is the same every run.
 */
#ifndef DW_SCHED_TASK_H
#define DW_SCHED_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "dwvd.h"

typedef enum dw_task_priority {
    DW_TASK_HIGH = 0,
    DW_TASK_NORMAL = 1,
    DW_TASK_LOW = 2,
} dw_task_priority;
#define DW_TASK_PRIORITY_COUNT 3

#define DW_TASK_GUARDS_MAX 8
/* The largest tick budget: about 7 minutes at 3 GHz. A budget is a contract on a small
 * piece of work; a larger one is a mistake. */
#define DW_TASK_TICKS_MAX (UINT64_C(1) << 40)

/* The work: returns the hash of the task's output. */
typedef uint64_t (*dw_task_work)(void *argument, uint64_t task_id);

/* What the caller fills to build a task. */
typedef struct dw_task_spec {
    uint64_t id;
    uint64_t tick_budget;               /* 1 .. DW_TASK_TICKS_MAX */
    dw_task_priority priority;
    uint32_t guard_count;               /* 0 .. DW_TASK_GUARDS_MAX */
    uint16_t guards[DW_TASK_GUARDS_MAX];/* ids from a dw_guard_table; the rest unused */
    dw_task_work work;
    void *argument;
} dw_task_spec;

/* A built task. Read its fields freely; write none of them. */
typedef struct dw_task {
    dw_task_spec spec;
    uint64_t seal;
} dw_task;

/* Checks a spec and builds a sealed task from it: DW_EINVAL, with the field and its
 * allowed range in `diag`, when the priority, the guard count, the budget or the work
 * is invalid. */
int dw_task_build(dw_task *task, const dw_task_spec *spec, dw_diag *diag);

/* True when the task came from dw_task_build and has not been changed since. */
bool dw_task_sealed(const dw_task *task);

const char *dw_task_priority_name(dw_task_priority priority);

/* ---- guards ---- */

#define DW_GUARDS_MAX 64
#define DW_GUARD_NAME_MAX 32

/* True when the guard allows the task to run. */
typedef bool (*dw_guard_check)(void *context, uint64_t task_id);

typedef struct dw_guard {
    char name[DW_GUARD_NAME_MAX];
    dw_guard_check check;
    void *context;
} dw_guard;

typedef struct dw_guard_table {
    uint32_t count;
    dw_guard guards[DW_GUARDS_MAX];
} dw_guard_table;

void dw_guard_table_init(dw_guard_table *table);

/* Registers a guard; its id (0, 1, 2, ...) goes to *id. DW_EINVAL for an empty, too
 * long or repeated name or a NULL check; DW_ENOSPC when the table is full. */
int dw_guard_register(dw_guard_table *table, const char *name, dw_guard_check check,
                      void *context, uint16_t *id, dw_diag *diag);

/* Checks that a task's guards exist in the table (DW_EINVAL naming the first that does
 * not) and that each allows the task (DW_EPERM naming the first that refuses). */
int dw_guard_table_admit(const dw_guard_table *table, const dw_task *task, dw_diag *diag);

#endif /* DW_SCHED_TASK_H */
