/* SPDX-License-Identifier: MIT */
/* The --migrate-to command: checks what the two databases are, opens the SQLite source and
 * the empty PostgreSQL target, runs agg_store_copy_all, prints one line per table with the
 * rows in the source and in the target, and tells how to switch the configuration. */
#include "aggregator/migrate.h"

#include "aggregator/config.h"
#include "aggregator/dbname.h"
#include "aggregator/store.h"
#include "common/err.h"
#include "common/log.h"
#include "common/os/os.h"

#include <inttypes.h>

#define MIGRATE_BUSY_MS 5000

struct report {
    FILE *out;
    int tables;
    int64_t rows;
};

static void report_table(void *ctx, const char *table, int64_t source_rows, int64_t copied_rows)
{
    struct report *rep = ctx;
    fprintf(rep->out, "  %-22s %12" PRId64 " %12" PRId64 "\n", table, source_rows, copied_rows);
    rep->tables++;
    rep->rows += copied_rows;
}

int agg_migrate_to(const struct agg_config *cfg, const char *target, FILE *out)
{
    struct agg_store *src = NULL, *dst = NULL;
    struct report rep = {.out = out};
    char name[512], why[512];
    int rc = 1;

    agg_db_display(target, name, sizeof(name));
    if (agg_db_kind_of(cfg->database) != AGG_DB_SQLITE) {
        mon_error("--migrate-to copies the configured SQLite database; database: in %s is "
                  "already a PostgreSQL database",
                  cfg->path);
        return 1;
    }
    if (agg_db_kind_of(target) != AGG_DB_POSTGRES) {
        mon_error("--migrate-to needs a PostgreSQL URI (postgresql://USER@HOST:PORT/DATABASE), "
                  "not '%s'",
                  name);
        return 1;
    }
    if (!agg_db_kind_available(AGG_DB_POSTGRES)) {
        mon_error("this build of monitor-aggregator has no PostgreSQL support (run --migrate-to "
                  "with the Linux aggregator)");
        return 1;
    }
    if (!mon_os_path_exists(cfg->database)) {
        mon_error("the database %s does not exist: nothing to copy", cfg->database);
        return 1;
    }
    if (agg_store_open(cfg->database, MIGRATE_BUSY_MS, &src, why, sizeof(why)) < 0) {
        mon_error("cannot open the database %s: %s", cfg->database, why);
        goto out;
    }
    if (agg_store_open_ex(target, NULL, MIGRATE_BUSY_MS, AGG_STORE_OPEN_REQUIRE_EMPTY, &dst, why,
                          sizeof(why)) < 0) {
        mon_error("cannot use %s as the target: %s", name, why);
        goto out;
    }
    fprintf(out, "copying %s (SQLite) into %s (PostgreSQL)\n", cfg->database, name);
    fprintf(out, "  %-22s %12s %12s\n", "table", "sqlite rows", "postgresql");
    if (agg_store_copy_all(src, dst, report_table, &rep, why, sizeof(why)) < 0) {
        mon_error("copy failed, nothing was kept in %s: %s", name, why);
        goto out;
    }
    fprintf(out,
            "%d tables, %" PRId64 " rows copied with their ids; the row counts match "
            "(schema version %d).\n\n"
            "To switch the aggregator to PostgreSQL: stop it, then in %s replace\n"
            "  database: \"%s\"\n"
            "with\n"
            "  database: \"%s\"\n"
            "and give the password in a file named by database_password_file: (or in "
            "PGPASSFILE), not in the URI; then start it. %s is left as it was: keep it until "
            "the aggregator runs on PostgreSQL.\n",
            rep.tables, rep.rows, agg_store_schema_version(), cfg->path, cfg->database, name,
            cfg->database);
    rc = 0;
out:
    agg_store_close(dst);
    agg_store_close(src);
    return rc;
}
