/*
 * task.c — see task.h.
 */
#include "sched/task.h"

#include <stddef.h>
#include <string.h>

#include "core/assert.h"
#include "core/checksum.h"
#include "core/error.h"

/* A constant folded into every seal so that a zeroed task is never sealed by chance. */
#define SEAL_KEY UINT64_C(0x6477766474736b31) /* "dwvdtsk1" */

static size_t put(unsigned char *packed, size_t at, const void *field, size_t size)
{
    memcpy(packed + at, field, size);
    return at + size;
}

static uint64_t seal_of(const dw_task_spec *spec)
{
    /* Field by field into a packed buffer: padding bytes in the struct are not hashed. */
    unsigned char packed[8 + 8 + 4 + 4 + 2 * DW_TASK_GUARDS_MAX + 2 * sizeof(void *)];
    uint32_t priority = (uint32_t)spec->priority;
    size_t at = put(packed, 0, &spec->id, 8);
    at = put(packed, at, &spec->tick_budget, 8);
    at = put(packed, at, &priority, 4);
    at = put(packed, at, &spec->guard_count, 4);
    at = put(packed, at, spec->guards, sizeof spec->guards);
    at = put(packed, at, &spec->work, sizeof spec->work);
    at = put(packed, at, &spec->argument, sizeof spec->argument);
    DW_ASSERT(at == sizeof packed);
    return dw_xxh3_64(packed, sizeof packed, SEAL_KEY);
}

int dw_task_build(dw_task *task, const dw_task_spec *spec, dw_diag *diag)
{
    DW_ASSERT(task != NULL && spec != NULL);
    memset(task, 0, sizeof *task);
    const char *hint = "see sched/task.h for the allowed values";
    if ((unsigned)spec->priority >= DW_TASK_PRIORITY_COUNT) {
        return dw_diag_fail(diag, DW_EINVAL, "use DW_TASK_HIGH, DW_TASK_NORMAL or DW_TASK_LOW",
                            "task %llu: priority %u is not high (0), normal (1) or low (2)",
                            (unsigned long long)spec->id, (unsigned)spec->priority);
    }
    if (spec->guard_count > DW_TASK_GUARDS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, "split the conditions over fewer guards",
                            "task %llu: %u guards, more than the %d a task may have",
                            (unsigned long long)spec->id, spec->guard_count, DW_TASK_GUARDS_MAX);
    }
    if (spec->tick_budget == 0 || spec->tick_budget > DW_TASK_TICKS_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, hint,
                            "task %llu: tick budget %llu is outside 1 .. %llu",
                            (unsigned long long)spec->id, (unsigned long long)spec->tick_budget,
                            (unsigned long long)DW_TASK_TICKS_MAX);
    }
    if (spec->work == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, hint, "task %llu has no work function",
                            (unsigned long long)spec->id);
    }
    task->spec = *spec;
    /* Unused guard entries are zeroed, so two builds of the same task seal alike. */
    for (uint32_t i = spec->guard_count; i < DW_TASK_GUARDS_MAX; i++) {
        task->spec.guards[i] = 0;
    }
    task->seal = seal_of(&task->spec);
    return DW_OK;
}

bool dw_task_sealed(const dw_task *task)
{
    return task->seal != 0 && task->seal == seal_of(&task->spec) &&
           (unsigned)task->spec.priority < DW_TASK_PRIORITY_COUNT &&
           task->spec.guard_count <= DW_TASK_GUARDS_MAX && task->spec.work != NULL;
}

const char *dw_task_priority_name(dw_task_priority priority)
{
    switch (priority) {
    case DW_TASK_HIGH: return "high";
    case DW_TASK_NORMAL: return "normal";
    case DW_TASK_LOW: return "low";
    }
    return "invalid";
}

void dw_guard_table_init(dw_guard_table *table)
{
    memset(table, 0, sizeof *table);
}

int dw_guard_register(dw_guard_table *table, const char *name, dw_guard_check check,
                      void *context, uint16_t *id, dw_diag *diag)
{
    DW_ASSERT(table != NULL && id != NULL);
    size_t length = name == NULL ? 0 : strlen(name);
    if (length == 0 || length >= DW_GUARD_NAME_MAX) {
        return dw_diag_fail(diag, DW_EINVAL, "give the guard a name of 1 to 31 characters",
                            "guard name '%s' is %s", name == NULL ? "" : name,
                            length == 0 ? "empty" : "too long");
    }
    if (check == NULL) {
        return dw_diag_fail(diag, DW_EINVAL, NULL, "guard '%s' has no check function", name);
    }
    for (uint32_t i = 0; i < table->count; i++) {
        if (strcmp(table->guards[i].name, name) == 0) {
            return dw_diag_fail(diag, DW_EINVAL, "register each guard once",
                                "guard '%s' is already registered as id %u", name, i);
        }
    }
    if (table->count == DW_GUARDS_MAX) {
        return dw_diag_fail(diag, DW_ENOSPC, "combine related conditions into one guard",
                            "guard '%s': the table already holds %d guards, its limit", name,
                            DW_GUARDS_MAX);
    }
    dw_guard *guard = &table->guards[table->count];
    memcpy(guard->name, name, length + 1);
    guard->check = check;
    guard->context = context;
    *id = (uint16_t)table->count++;
    return DW_OK;
}

int dw_guard_table_admit(const dw_guard_table *table, const dw_task *task, dw_diag *diag)
{
    for (uint32_t i = 0; i < task->spec.guard_count; i++) {
        uint16_t id = task->spec.guards[i];
        if (id >= table->count) {
            return dw_diag_fail(diag, DW_EINVAL, "register the guard before enqueuing tasks that name it",
                                "task %llu names guard %u, which is not registered (%u guards are)",
                                (unsigned long long)task->spec.id, id, table->count);
        }
    }
    for (uint32_t i = 0; i < task->spec.guard_count; i++) {
        const dw_guard *guard = &table->guards[task->spec.guards[i]];
        if (!guard->check(guard->context, task->spec.id)) {
            return dw_diag_fail(diag, DW_EPERM, NULL, "task %llu refused by guard '%s'",
                                (unsigned long long)task->spec.id, guard->name);
        }
    }
    return DW_OK;
}
