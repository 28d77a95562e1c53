/*
 * test_kill.c — a process killed with SIGKILL in the middle of a loop of strict puts
 * loses nothing it acknowledged. A child process opens a VDE on a file (strict
 * durability: a put returns only when its commit is on stable storage), puts and
 * replaces objects of one to several blocks, and after each put that returned DW_OK
 * writes the put's number to a pipe. The parent kills it at a random moment, reopens the
 * VDE (recovering it), checks that every acknowledged put is there with its bytes (the
 * one put in flight may or may not be), and that `verify` then finds the VDE clean.
 */
#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vde_env.h"

#define SLOTS 700                   /* put i writes key i % SLOTS: most puts replace */
#define VALUE_MAX 40000
#define PUTS_MAX 1000000

static void key_of(char key[16], uint64_t i)
{
    (void)snprintf(key, 16, "k-%05u", (unsigned)(i % SLOTS));
}

/* One put in five spans several blocks; the rest are small, some held in the inode. */
static size_t size_of(uint64_t i)
{
    return i % 5 == 0 ? VALUE_MAX - (size_t)(i % 977) : 40 + (size_t)(i * 37 % 900);
}

/* The child: puts until it is killed; reports each acknowledged put on `out`. */
static void child_puts(const char *path, const dw_config *config, uint64_t start, int out)
{
    static unsigned char value[VALUE_MAX];
    dw_vde *vde = NULL;
    dw_diag diag;
    dw_diag_clear(&diag);
    if (dw_vde_open(path, config, &vde, &diag) != DW_OK) {
        (void)fprintf(stderr, "child: open: %s\n", diag.message);
        _exit(2);
    }
    char key[16];
    for (uint64_t i = start; i < start + PUTS_MAX; i++) {
        key_of(key, i);
        fill(value, size_of(i), i);
        if (dw_put(vde, key, strlen(key), value, size_of(i), NULL, &diag) != DW_OK) {
            (void)fprintf(stderr, "child: put %" PRIu64 ": %s\n", i, diag.message);
            _exit(3);
        }
        if (write(out, &i, sizeof i) != (ssize_t)sizeof i) {
            _exit(4);
        }
    }
    _exit(0);
}

/* Reads one acknowledgement; false at end of file. */
static bool read_ack(int in, uint64_t *i)
{
    size_t have = 0;
    while (have < sizeof *i) {
        ssize_t got = read(in, (unsigned char *)i + have, sizeof *i - have);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            assert_int_equal(have, 0);
            return false;
        }
        have += (size_t)got;
    }
    return true;
}

/* What each slot must hold: the number of the last put to it known to be committed
 * (acknowledged, or found after a recovery), or -1. */
static int64_t slot_put[SLOTS];

/* Checks one slot against the model: `in_flight` is the put that was under way when the
 * child died; its commit may have reached the disk before the acknowledgement did, so the
 * slot it writes may hold it instead. Returns 1 when the slot holds the put in flight. */
static int check_slot(env *e, uint64_t s, uint64_t in_flight)
{
    static unsigned char expected[VALUE_MAX];
    static unsigned char back[VALUE_MAX];
    char key[16];
    key_of(key, s);
    size_t size = 0;
    int result = dw_get(e->vde, key, strlen(key), back, sizeof back, &size, NULL, &e->diag);
    if (in_flight % SLOTS == s && result == DW_OK && size == size_of(in_flight)) {
        fill(expected, size, in_flight);
        if (memcmp(back, expected, size) == 0) {
            slot_put[s] = (int64_t)in_flight;
            return 1;
        }
    }
    int64_t acked = slot_put[s];
    if (acked < 0) {
        if (result != DW_ENOENT) {
            fail_msg("%s was never written but dw_get returned %s", key, dw_error_name(result));
        }
        return 0;
    }
    if (result != DW_OK) {
        fail_msg("put %" PRId64 " was acknowledged but dw_get of %s returned %s: %s", acked, key,
                 dw_error_name(result), e->diag.message);
    }
    assert_int_equal(size, size_of((uint64_t)acked));
    fill(expected, size, (uint64_t)acked);
    if (memcmp(back, expected, size) != 0) {
        fail_msg("put %" PRId64 " was acknowledged but %s holds other bytes", acked, key);
    }
    return 0;
}

static void acknowledged_strict_puts_survive_sigkill(void **state)
{
    (void)state;
    uint64_t seed = dw_test_seed();
    uint32_t rounds = (uint32_t)(8 * dw_test_scale());
    if (rounds > 80) {
        rounds = 80;
    }
    env *e = env_new(false, 256u << 20);
    e->config.durability = DW_DURABILITY_STRICT;
    for (uint64_t s = 0; s < SLOTS; s++) {
        slot_put[s] = -1;
    }
    /* Put numbers go on across rounds, so later rounds replace objects that earlier
     * rounds wrote and recover a VDE that has been recovered before. */
    uint64_t start = 0;
    uint64_t acknowledged = 0;
    uint32_t in_flight_committed = 0;
    for (uint32_t round = 0; round < rounds; round++) {
        int pipe_fds[2];
        assert_int_equal(pipe(pipe_fds), 0);
        (void)fflush(NULL);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            (void)close(pipe_fds[0]);
            child_puts(e->path, &e->config, start, pipe_fds[1]);
        }
        (void)close(pipe_fds[1]);
        /* Kill after 20 to 1,000 acknowledgements, plus a random delay of up to 3 ms so
         * that the kill lands anywhere in a put. */
        uint64_t kill_after = 20 + dw_test_random(&seed) % 980;
        uint64_t i = 0;
        uint64_t next = start;
        while (next - start < kill_after && read_ack(pipe_fds[0], &i)) {
            assert_int_equal(i, next);
            slot_put[i % SLOTS] = (int64_t)i;
            next++;
        }
        struct timespec pause = {0, (long)(dw_test_random(&seed) % 3000000)};
        (void)nanosleep(&pause, NULL);
        assert_int_equal(kill(child, SIGKILL), 0);
        while (read_ack(pipe_fds[0], &i)) {
            assert_int_equal(i, next);
            slot_put[i % SLOTS] = (int64_t)i;
            next++;
        }
        (void)close(pipe_fds[0]);
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fail_msg("the child ended before it was killed (status %d)", status);
        }
        assert_true(next - start >= kill_after);
        acknowledged += next - start;
        /* `next` is the put that was in flight. */
        env_open(e);
        int committed = 0;
        for (uint64_t s = 0; s < SLOTS; s++) {
            committed += check_slot(e, s, next);
        }
        in_flight_committed += (uint32_t)committed;
        env_close(e);
        const dw_verify_report *report = env_verify(e, NULL, NULL);
        env_print_problems(report);
        assert_int_equal(report->problem_count, 0);
        start = next + 1;
    }
    print_message("# %u kills: %" PRIu64 " acknowledged strict puts, all present after recovery; the put in flight"
                  " was found committed %u times; verify clean after each recovery\n",
                  rounds, acknowledged, in_flight_committed);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acknowledged_strict_puts_survive_sigkill),
    };
    return cmocka_run_group_tests_name("kill", tests, NULL, NULL);
}
