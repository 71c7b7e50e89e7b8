/* SPDX-License-Identifier: MIT */
/* The --check-db command: opens the configured database with the store, runs its check (and,
 * for a file, the check a restore would make) and prints its statistics. */
#include "aggregator/checkdb.h"

#include "aggregator/config.h"
#include "aggregator/dbname.h"
#include "aggregator/store.h"
#include "common/os/os.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>

int agg_check_db(const struct agg_config *cfg, FILE *out)
{
    bool server = agg_db_kind_of(cfg->database) == AGG_DB_POSTGRES;
    struct agg_store *st = NULL;
    char why[512], name[512], *json = NULL;
    cJSON *root = NULL;
    const cJSON *rows, *item;
    int rc = 1;

    agg_db_display(cfg->database, name, sizeof(name));
    if (!server && !mon_os_path_exists(cfg->database)) {
        fprintf(out, "%s: does not exist\n", name);
        return 1;
    }
    if (agg_store_open_ex(cfg->database, cfg->database_password, 5000, 0, &st, why, sizeof(why)) <
        0) {
        fprintf(out, "%s: cannot open: %s\n", name, why);
        return 1;
    }
    fprintf(out, "database: %s\n", name);
    /* A file's integrity check is the restore check; a server checks itself (store_pg_care.c). */
    if (agg_store_check(st, why, sizeof(why)) < 0 ||
        (!server && agg_store_restore_check(cfg->database, why, sizeof(why)) < 0)) {
        fprintf(out, "integrity: FAILED (%s)\n", why);
        goto out;
    }
    fprintf(out, "integrity: ok\n");
    if (agg_store_stats(st, &json) < 0 || !(root = cJSON_Parse(json))) {
        fprintf(out, "statistics: unavailable (%s)\n", agg_store_last_error(st));
        goto out;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "size_bytes");
    fprintf(out, "size: %.0f bytes\n", cJSON_IsNumber(item) ? item->valuedouble : 0.0);
    if (server) {
        item = cJSON_GetObjectItemCaseSensitive(root, "server_version");
        fprintf(out, "server: PostgreSQL %s\n", cJSON_IsString(item) ? item->valuestring : "?");
        item = cJSON_GetObjectItemCaseSensitive(root, "partitions");
        fprintf(out, "monthly partitions: %.0f\n", cJSON_IsNumber(item) ? item->valuedouble : 0.0);
    } else {
        item = cJSON_GetObjectItemCaseSensitive(root, "journal_mode");
        fprintf(out, "journal mode: %s\n", cJSON_IsString(item) ? item->valuestring : "?");
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "user_version");
    fprintf(out, "schema version: %.0f\n", cJSON_IsNumber(item) ? item->valuedouble : 0.0);
    rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    cJSON_ArrayForEach(item, rows)
    {
        fprintf(out, "rows %s: %.0f\n", item->string, item->valuedouble);
    }
    rc = 0;
out:
    cJSON_Delete(root);
    free(json);
    agg_store_close(st);
    return rc;
}
