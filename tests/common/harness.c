/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void dw_test_dir_create(dw_test_dir *dir)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    int length = snprintf(dir->path, sizeof dir->path, "%s/dwvd-test-XXXXXX", base);
    assert_true(length > 0 && (size_t)length < sizeof dir->path);
    assert_non_null(mkdtemp(dir->path));
}

static int remove_entry(const char *path, const struct stat *status, int type, struct FTW *ftw)
{
    (void)status;
    (void)type;
    (void)ftw;
    return remove(path);
}

void dw_test_dir_remove(dw_test_dir *dir)
{
    assert_int_equal(nftw(dir->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

const char *dw_test_path(const dw_test_dir *dir, const char *name, char *out, size_t size)
{
    int length = snprintf(out, size, "%s/%s", dir->path, name);
    assert_true(length > 0 && (size_t)length < size);
    return out;
}

void dw_test_write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

size_t dw_test_read_file(const char *path, char *buffer, size_t size)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    size_t length = fread(buffer, 1, size - 1, file);
    buffer[length] = '\0';
    assert_int_equal(fclose(file), 0);
    return length;
}

size_t dw_test_read_stream(FILE *stream, char *buffer, size_t size)
{
    assert_int_equal(fflush(stream), 0);
    rewind(stream);
    size_t length = fread(buffer, 1, size - 1, stream);
    buffer[length] = '\0';
    return length;
}

int dw_test_death(void (*function)(void *argument), void *argument, char *error_text,
                  size_t error_size)
{
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        (void)dup2(pipe_fds[1], STDERR_FILENO);
        (void)close(pipe_fds[0]);
        (void)close(pipe_fds[1]);
        function(argument);
        _exit(0);
    }
    (void)close(pipe_fds[1]);
    size_t used = 0;
    for (;;) {
        ssize_t result = read(pipe_fds[0], error_text + used, error_size - 1 - used);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            break;
        }
        used += (size_t)result;
        if (used == error_size - 1) {
            break;
        }
    }
    error_text[used] = '\0';
    (void)close(pipe_fds[0]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* A recursive-descent JSON checker, enough to prove that every log line is valid. */
typedef struct json_cursor {
    const unsigned char *at;
    const unsigned char *end;
    int depth;
} json_cursor;

static void json_skip_space(json_cursor *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r')) {
        c->at++;
    }
}

static bool json_literal(json_cursor *c, const char *word)
{
    size_t length = strlen(word);
    if ((size_t)(c->end - c->at) < length || memcmp(c->at, word, length) != 0) {
        return false;
    }
    c->at += length;
    return true;
}

static bool json_utf8(json_cursor *c)
{
    unsigned char lead = *c->at;
    size_t length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (lead < 0xc2 || lead > 0xf4 || (size_t)(c->end - c->at) < length) {
        return false;
    }
    for (size_t i = 1; i < length; i++) {
        if ((c->at[i] & 0xc0) != 0x80) {
            return false;
        }
    }
    if ((lead == 0xe0 && c->at[1] < 0xa0) || (lead == 0xed && c->at[1] > 0x9f) ||
        (lead == 0xf0 && c->at[1] < 0x90) || (lead == 0xf4 && c->at[1] > 0x8f)) {
        return false;
    }
    c->at += length;
    return true;
}

static bool json_string(json_cursor *c)
{
    if (c->at >= c->end || *c->at != '"') {
        return false;
    }
    c->at++;
    while (c->at < c->end && *c->at != '"') {
        if (*c->at < 0x20) {
            return false;
        }
        if (*c->at == '\\') {
            c->at++;
            if (c->at >= c->end) {
                return false;
            }
            if (*c->at == 'u') {
                for (int i = 1; i <= 4; i++) {
                    if (c->at + i >= c->end || strchr("0123456789abcdefABCDEF", c->at[i]) == NULL) {
                        return false;
                    }
                }
                c->at += 5;
            } else if (strchr("\"\\/bfnrt", *c->at) != NULL) {
                c->at++;
            } else {
                return false;
            }
        } else if (*c->at >= 0x80) {
            if (!json_utf8(c)) {
                return false;
            }
        } else {
            c->at++;
        }
    }
    if (c->at >= c->end) {
        return false;
    }
    c->at++;
    return true;
}

static bool json_digits(json_cursor *c)
{
    const unsigned char *start = c->at;
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
        c->at++;
    }
    return c->at > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(json_cursor *c)
{
    if (c->at < c->end && *c->at == '-') {
        c->at++;
    }
    if (c->at < c->end && *c->at == '0') {
        c->at++;
    } else if (c->at >= c->end || *c->at < '1' || *c->at > '9' || !json_digits(c)) {
        return false;
    }
    if (c->at < c->end && *c->at == '.') {
        c->at++;
        if (!json_digits(c)) {
            return false;
        }
    }
    if (c->at < c->end && (*c->at == 'e' || *c->at == 'E')) {
        c->at++;
        if (c->at < c->end && (*c->at == '+' || *c->at == '-')) {
            c->at++;
        }
        if (!json_digits(c)) {
            return false;
        }
    }
    return true;
}

static bool json_value(json_cursor *c);

static bool json_container(json_cursor *c, unsigned char close, bool keyed)
{
    if (++c->depth > 64) {
        return false;
    }
    c->at++;
    json_skip_space(c);
    if (c->at < c->end && *c->at == close) {
        c->at++;
        c->depth--;
        return true;
    }
    for (;;) {
        json_skip_space(c);
        if (keyed) {
            if (!json_string(c)) {
                return false;
            }
            json_skip_space(c);
            if (c->at >= c->end || *c->at != ':') {
                return false;
            }
            c->at++;
        }
        if (!json_value(c)) {
            return false;
        }
        json_skip_space(c);
        if (c->at < c->end && *c->at == ',') {
            c->at++;
            continue;
        }
        if (c->at < c->end && *c->at == close) {
            c->at++;
            c->depth--;
            return true;
        }
        return false;
    }
}

static bool json_value(json_cursor *c)
{
    json_skip_space(c);
    if (c->at >= c->end) {
        return false;
    }
    switch (*c->at) {
    case '{':
        return json_container(c, '}', true);
    case '[':
        return json_container(c, ']', false);
    case '"':
        return json_string(c);
    case 't':
        return json_literal(c, "true");
    case 'f':
        return json_literal(c, "false");
    case 'n':
        return json_literal(c, "null");
    default:
        return json_number(c);
    }
}

bool dw_test_json_valid(const char *text, size_t length)
{
    json_cursor cursor = {(const unsigned char *)text, (const unsigned char *)text + length, 0};
    if (!json_value(&cursor)) {
        return false;
    }
    json_skip_space(&cursor);
    return cursor.at == cursor.end;
}

void *dw_test_aligned_alloc(size_t alignment, size_t size)
{
    size_t rounded = (size + alignment - 1) / alignment * alignment;
    void *memory = aligned_alloc(alignment, rounded);
    assert_non_null(memory);
    return memory;
}

uint64_t dw_test_scale(void)
{
    const char *text = getenv("DW_TEST_SCALE");
    if (text == NULL || text[0] == '\0') {
        return 1;
    }
    unsigned long long value = strtoull(text, NULL, 10);
    return value == 0 ? 1 : (uint64_t)value;
}

uint64_t dw_test_seed(void)
{
    const char *text = getenv("DW_TEST_SEED");
    uint64_t seed = UINT64_C(0x5eed0fdeadbeef01);
    if (text != NULL && text[0] != '\0') {
        seed = (uint64_t)strtoull(text, NULL, 0);
    }
    /* TAP diagnostics start with '#', so the seed shows in the log without breaking it. */
    printf("# seed 0x%016llx (set DW_TEST_SEED to reproduce)\n", (unsigned long long)seed);
    return seed == 0 ? 1 : seed;
}
