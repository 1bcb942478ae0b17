// SPDX-License-Identifier: Apache-2.0
/*
 * Digest worker.  The file is opened through /proc/PID/exe, which names
 * exactly the file the process runs even across mount namespaces, and is
 * checked against the kernel's (inode, size, ctime) before it is trusted:
 * if the process exec'd again meanwhile, the digest is not cached for the
 * old identity.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "cleanup.h"
#include "hasher.h"
#include "log.h"

#define CACHE_MAX 4096
#define QUEUE_MAX 1024

struct file_key {
	__u64 dev, ino, ctime_ns, size;
};

struct cached {
	struct file_key key;
	bool pending; /* queued, digest not there yet */
	char hex[65];
};

struct job {
	struct file_key key;
	__u32 tgid;
	struct proc_state st;
};

struct hasher {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool stop;
	struct cached *cache;
	size_t ncache;
	struct job *queue;
	size_t qhead, qlen;
	void (*done)(void *ctx, const struct proc_state *st);
	void *ctx;
};

static struct file_key key_of(const struct proc_state *st)
{
	return (struct file_key){ st->exe_dev, st->exe_ino, st->exe_ctime_ns, st->exe_size };
}

static bool key_eq(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->ctime_ns == b->ctime_ns &&
	       a->size == b->size;
}

bool hasher_same_file(const struct proc_state *a, const struct proc_state *b)
{
	struct file_key ka = key_of(a), kb = key_of(b);

	return key_eq(&ka, &kb);
}

int hasher_digest_fd(int fd, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t n;
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		r = -EIO;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!EVP_DigestUpdate(ctx, buf, n)) {
			r = -EIO;
			goto out;
		}
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen)) {
		r = -EIO;
		goto out;
	}
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[64] = '\0';
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static struct cached *lookup(struct hasher *h, const struct file_key *k)
{
	for (size_t i = 0; i < h->ncache; i++)
		if (key_eq(&h->cache[i].key, k))
			return &h->cache[i];
	return NULL;
}

static int hash_job(const struct job *j, char hex[65])
{
	char path[64];
	_cleanup_close_ int fd = -1;
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/%u/exe", j->tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if ((__u64)sb.st_ino != j->key.ino || (__u64)sb.st_size != j->key.size ||
	    (__u64)sb.st_ctim.tv_sec * 1000000000ULL + sb.st_ctim.tv_nsec != j->key.ctime_ns)
		return -ESTALE; /* the process runs another file now */
	return hasher_digest_fd(fd, hex);
}

static void *worker(void *arg)
{
	struct hasher *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		struct job j;
		struct cached *c;
		char hex[65];
		int r;

		if (!h->qlen) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		j = h->queue[h->qhead];
		h->qhead = (h->qhead + 1) % QUEUE_MAX;
		h->qlen--;
		pthread_mutex_unlock(&h->lock);
		r = hash_job(&j, hex);
		pthread_mutex_lock(&h->lock);
		c = lookup(h, &j.key);
		if (!c)
			continue;
		if (r < 0) {
			/* Forget it: the next process running this file queues it again. */
			log_debug("\"digest failed\" pid=%u error=\"%s\"", j.tgid, strerror(-r));
			*c = h->cache[--h->ncache];
			continue;
		}
		memcpy(c->hex, hex, sizeof(hex));
		c->pending = false;
		pthread_mutex_unlock(&h->lock);
		if (h->done)
			h->done(h->ctx, &j.st);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int hasher_new(void (*done)(void *ctx, const struct proc_state *st), void *ctx,
	       struct hasher **ret)
{
	struct hasher *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->cache = calloc(CACHE_MAX, sizeof(*h->cache));
	h->queue = calloc(QUEUE_MAX, sizeof(*h->queue));
	if (!h->cache || !h->queue) {
		free(h->cache);
		free(h->queue);
		free(h);
		return -ENOMEM;
	}
	h->done = done;
	h->ctx = ctx;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	r = pthread_create(&h->thread, NULL, worker, h);
	if (r) {
		free(h->cache);
		free(h->queue);
		free(h);
		return -r;
	}
	*ret = h;
	return 0;
}

void hasher_free(struct hasher *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->cache);
	free(h->queue);
	free(h);
}

int hasher_get(struct hasher *h, const struct proc_state *st, char hex[65])
{
	struct file_key k = key_of(st);
	struct cached *c;
	int r = -EAGAIN;

	if (st->flags & PROC_F_NO_EXE || !st->exe_ino)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	c = lookup(h, &k);
	if (c) {
		if (!c->pending) {
			memcpy(hex, c->hex, 65);
			r = 0;
		}
		goto out;
	}
	if (h->qlen == QUEUE_MAX)
		goto out; /* asked again at the next event for this file */
	if (h->ncache == CACHE_MAX)
		h->ncache = 0; /* crude, but bounded: a full cache starts over */
	h->cache[h->ncache++] = (struct cached){ .key = k, .pending = true };
	h->queue[(h->qhead + h->qlen) % QUEUE_MAX] = (struct job){ k, st->tgid, *st };
	h->qlen++;
	pthread_cond_signal(&h->cond);
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}
