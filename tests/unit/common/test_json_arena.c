/* SPDX-License-Identifier: MIT */
/* cJSON trees from a per-thread arena: parsed nodes lie in the arena (no malloc), a full arena
 * falls back to malloc, other threads and trees outside begin/end are untouched. */
#include "common/err.h"
#include "common/json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char doc[] = "{\"a\":[1,2,3],\"name\":\"gpu\",\"nested\":{\"x\":1.5,\"y\":null}}";

static bool inside(const struct mon_json_arena *a, const void *p)
{
    return (const char *)p >= a->base && (const char *)p < a->base + a->size;
}

static void *other_thread(void *arg)
{
    bool *ok = arg;
    cJSON *t = cJSON_Parse(doc); /* this thread has no arena: plain malloc */
    *ok = t && cJSON_GetObjectItem(t, "name") != NULL;
    cJSON_Delete(t);
    return NULL;
}

static void test_arena(void **state)
{
    struct mon_json_arena a, tiny;
    cJSON *t, *outside;
    pthread_t th;
    bool ok = false;
    (void)state;
    mon_json_arena_install();
    assert_int_equal(mon_json_arena_init(&a, 64 * 1024), MON_OK);
    outside = cJSON_Parse(doc); /* before begin: heap */
    assert_non_null(outside);
    assert_false(inside(&a, outside));

    mon_json_arena_begin(&a);
    t = cJSON_Parse(doc);
    assert_non_null(t);
    assert_true(inside(&a, t));
    assert_true(inside(&a, cJSON_GetObjectItem(t, "name")->valuestring));
    assert_true(a.used > 0);
    assert_int_equal(pthread_create(&th, NULL, other_thread, &ok), 0);
    pthread_join(th, NULL);
    assert_true(ok);
    cJSON_Delete(t);
    cJSON_Delete(outside); /* a heap tree freed while an arena is active goes to the heap */
    mon_json_arena_end();
    assert_int_equal(a.used, 0);

    /* A full arena: the rest comes from the heap and is freed there. */
    assert_int_equal(mon_json_arena_init(&tiny, 128), MON_OK);
    mon_json_arena_begin(&tiny);
    t = cJSON_Parse(doc);
    assert_non_null(t);
    assert_string_equal(cJSON_GetObjectItem(t, "name")->valuestring, "gpu");
    cJSON_Delete(t);
    mon_json_arena_end();
    mon_json_arena_done(&tiny);
    mon_json_arena_done(&a);
    mon_json_arena_done(&a); /* twice is fine */
}

/* Runs first, before any test installs the hooks: an arena is then never used, and
 * mon_json_arena_delete must free the malloc'd tree (LeakSanitizer fails the test if not). */
static void test_delete_without_hooks(void **state)
{
    struct mon_json_arena a;
    cJSON *t;
    (void)state;
    assert_int_equal(mon_json_arena_init(&a, 64 * 1024), MON_OK);
    mon_json_arena_begin(&a);
    t = cJSON_Parse(doc);
    assert_non_null(t);
    assert_false(inside(&a, t));
    mon_json_arena_delete(t);
    mon_json_arena_end();
    mon_json_arena_done(&a);
}

/* mon_json_arena_delete: nothing to free for a tree wholly in the arena; a tree that spilled
 * into the heap, or one parsed with no arena active, is freed (LeakSanitizer checks). */
static void test_delete(void **state)
{
    struct mon_json_arena a, tiny;
    cJSON *t;
    (void)state;
    mon_json_arena_install();
    assert_int_equal(mon_json_arena_init(&a, 64 * 1024), MON_OK);
    mon_json_arena_begin(&a);
    t = cJSON_Parse(doc);
    assert_non_null(t);
    assert_true(inside(&a, t) && a.spilled == 0);
    mon_json_arena_delete(t);
    mon_json_arena_end();

    assert_int_equal(mon_json_arena_init(&tiny, 128), MON_OK);
    mon_json_arena_begin(&tiny);
    t = cJSON_Parse(doc);
    assert_non_null(t);
    assert_true(tiny.spilled > 0);
    mon_json_arena_delete(t);
    mon_json_arena_end();

    t = cJSON_Parse(doc); /* no arena active */
    assert_non_null(t);
    mon_json_arena_delete(t);
    mon_json_arena_delete(NULL);
    mon_json_arena_done(&tiny);
    mon_json_arena_done(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_without_hooks),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
