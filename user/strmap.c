// SPDX-License-Identifier: Apache-2.0
/*
 * String hash table for the matcher's indexes.  The hash is seeded per
 * table from getrandom(), so that which keys collide is not predictable
 * from outside; keys come from the root-only admin API and lookups never
 * insert, which is why a seeded FNV-1a with a final mix is enough here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "strmap.h"

#define MIN_CAP 16

struct slot {
	uint64_t hash;
	const char *key; /* NULL: empty */
	void *value;
};

struct strmap {
	struct slot *slots;
	size_t cap; /* a power of two */
	size_t count;
	uint64_t seed;
};

static uint64_t hash_str(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	/* murmur3's fmix64: FNV's low bits are weak and the slot index uses them. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

int strmap_new(struct strmap **ret)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->slots = calloc(MIN_CAP, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		return -ENOMEM;
	}
	m->cap = MIN_CAP;
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ULL;
	*ret = m;
	return 0;
}

void strmap_free(struct strmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

size_t strmap_count(const struct strmap *m)
{
	return m->count;
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *probe(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1, i = h & mask;

	for (;;) {
		struct slot *s = &m->slots[i];

		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

static int rehash(struct strmap *m, size_t cap)
{
	struct slot *old = m->slots, *slots;
	size_t old_cap = m->cap;

	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	m->slots = slots;
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].key)
			continue;
		*probe(m, old[i].key, old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

/* Load at most 3/4: linear probing degrades fast beyond that. */
static size_t cap_for(size_t n)
{
	size_t cap = MIN_CAP;

	while (cap - cap / 4 < n) {
		if (cap > SIZE_MAX / 2 / sizeof(struct slot))
			return 0;
		cap *= 2;
	}
	return cap;
}

int strmap_reserve(struct strmap *m, size_t n)
{
	size_t cap = cap_for(n);

	if (!cap)
		return -ENOMEM;
	return cap > m->cap ? rehash(m, cap) : 0;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	return probe(m, key, hash_str(m->seed, key))->value;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
	uint64_t h = hash_str(m->seed, key);
	struct slot *s;
	int r;

	if (!value || !key)
		return -EINVAL;
	s = probe(m, key, h);
	if (s->key)
		return -EEXIST;
	if (m->count + 1 > m->cap - m->cap / 4) {
		r = strmap_reserve(m, m->count + 1);
		if (r)
			return r;
		s = probe(m, key, h);
	}
	*s = (struct slot){ h, key, value };
	m->count++;
	return 0;
}

void *strmap_remove(struct strmap *m, const char *key)
{
	size_t mask = m->cap - 1, hole, i;
	struct slot *s = probe(m, key, hash_str(m->seed, key));
	void *value = s->value;

	if (!s->key)
		return NULL;
	/*
	 * Backward shift: move later members of the probe run into the hole
	 * when the hole lies on their way from their home slot, so that every
	 * lookup still finds its key before the first empty slot.
	 */
	hole = (size_t)(s - m->slots);
	i = hole;
	for (;;) {
		size_t home;

		i = (i + 1) & mask;
		if (!m->slots[i].key)
			break;
		home = m->slots[i].hash & mask;
		/* Distance from home to i versus from home to hole, cyclically. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			m->slots[hole] = m->slots[i];
			hole = i;
		}
	}
	m->slots[hole] = (struct slot){ 0 };
	m->count--;
	return value;
}

bool strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value)
{
	for (; *pos < m->cap; (*pos)++) {
		const struct slot *s = &m->slots[*pos];

		if (s->key) {
			(*pos)++;
			if (key)
				*key = s->key;
			if (value)
				*value = s->value;
			return true;
		}
	}
	return false;
}
