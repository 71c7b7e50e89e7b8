/* SPDX-License-Identifier: MIT */
/* Test helper shared by the store and backup tests: removes a temp folder tree a test made. */
#ifndef MON_TESTS_AGGREGATOR_TMP_TREE_H
#define MON_TESTS_AGGREGATOR_TMP_TREE_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes a folder tree made by a test (plain files and folders only; symlinks are unlinked,
 * never followed). */
static inline void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char child[512];
            struct stat sb;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >= (int)sizeof(child))
                continue;
            if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
                rm_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

#endif
