/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed hash table: open addressing with linear probing and
 * backward-shift deletion (no tombstones, so a table that sees many
 * removals stays as fast as a fresh one).  Keys are borrowed: the caller
 * keeps each key alive and unchanged while it is in the table, typically
 * by pointing at a string inside the value.  Values must not be NULL.
 * Not thread-safe: the owner locks.
 */
#ifndef ATTESTD_STRMAP_H
#define ATTESTD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap;

/* 0 or -ENOMEM. */
int strmap_new(struct strmap **ret);
/* Frees the table, not the keys or values. */
void strmap_free(struct strmap *m);
size_t strmap_count(const struct strmap *m);
/* Makes room for n keys in all, so that inserting them does not rehash; 0 or -ENOMEM. */
int strmap_reserve(struct strmap *m, size_t n);

/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Adds key; -EEXIST if it is there already (the table is unchanged), -EINVAL for a NULL value. */
int strmap_put(struct strmap *m, const char *key, void *value);
/* Removes key and returns its value, or NULL if it was not there. */
void *strmap_remove(struct strmap *m, const char *key);

/*
 * Iteration: start with *pos = 0; each call gives the next pair and
 * returns false at the end.  The table must not change meanwhile.
 */
bool strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value);

#endif
