// SPDX-License-Identifier: Apache-2.0
/*
 * Foreign trust domains' bundles (federation.h): files in
 * <data-dir>/bundles, mirrored in the daemon's bundle set.  One lock
 * serializes the writers, so a file and the set never disagree for long.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bundle.h"
#include "federation.h"
#include "log.h"
#include "spiffeid.h"

/* Largest bundle file taken: far beyond any real JWK Set. */
#define FEDERATION_MAX_BYTES (4 * 1024 * 1024)

struct federation {
	struct federation_opts opts;
	char *td; /* our trust domain, copied */
	char *dir;
	int dirfd;
	pthread_mutex_t lock;
};

/* name in dirfd is either the old file or all of the new one, also across a
 * crash: temp file, fsync, rename, fsync the directory. */
static int write_atomic(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	const char *p = data;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	(void)unlinkat(dirfd, tmp, 0); /* writers hold the lock: a leftover is stale */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0)
		r = -errno;
	while (!r && len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int read_file_at(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= FEDERATION_MAX_BYTES) {
				free(buf);
				close(fd);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static void info_of(const struct bundle *b, struct federation_info *info)
{
	snprintf(info->trust_domain, sizeof(info->trust_domain), "%s", bundle_trust_domain(b));
	info->x509_authorities = bundle_x509_count(b);
	info->jwt_authorities = bundle_jwt_count(b);
	info->sequence = bundle_sequence(b);
}

/* A name federation takes: a valid trust domain that is not ours. */
static int check_td(const struct federation *f, const char *td, char *err, size_t errlen)
{
	char why[200];

	if (!td || trust_domain_validate(td, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "invalid trust domain '%s': %s", td ? td : "",
			 td ? why : "missing");
		return -EINVAL;
	}
	if (strcmp(td, f->td) == 0) {
		snprintf(err, errlen, "%s is attestd's own trust domain", td);
		return -EPERM;
	}
	return 0;
}

static void load_all(struct federation *f)
{
	int fd = dup(f->dirfd);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		log_warn("\"cannot read federated bundles\" dir=%s error=\"%s\"", f->dir,
			 strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		char td[256], err[256];
		size_t n = strlen(de->d_name), len = 0;
		struct bundle *b = NULL;
		char *json = NULL;
		int r;

		if (de->d_name[0] == '.' || n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if (n - 5 >= sizeof(td))
			continue;
		memcpy(td, de->d_name, n - 5);
		td[n - 5] = '\0';
		if (check_td(f, td, err, sizeof(err)) < 0) {
			log_warn("\"skipping federated bundle\" file=%s/%s error=\"%s\"", f->dir,
				 de->d_name, err);
			continue;
		}
		r = read_file_at(f->dirfd, de->d_name, &json, &len);
		if (r < 0) {
			log_warn("\"skipping federated bundle\" file=%s/%s error=\"%s\"", f->dir,
				 de->d_name, strerror(-r));
			continue;
		}
		r = bundle_parse_spiffe(td, json, len, &b, err, sizeof(err));
		free(json);
		if (r == 0)
			r = bundle_set_put(f->opts.bundles, b);
		else
			log_warn("\"skipping federated bundle\" file=%s/%s error=\"%s\"", f->dir,
				 de->d_name, err);
		if (r == 0)
			log_info("\"federated bundle loaded\" trust_domain=%s x509_authorities=%d "
				 "jwt_authorities=%zu sequence=%llu",
				 td, bundle_x509_count(b), bundle_jwt_count(b),
				 (unsigned long long)bundle_sequence(b));
		bundle_unref(b);
	}
	closedir(dir);
}

int federation_open(const struct federation_opts *opts, struct federation **ret)
{
	struct federation *f;
	int r;

	if (!opts || !opts->data_dir || !opts->trust_domain || !opts->bundles)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->opts = *opts;
	f->dirfd = -1;
	f->td = strdup(opts->trust_domain);
	if (!f->td || asprintf(&f->dir, "%s/bundles", opts->data_dir) < 0) {
		f->dir = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if (mkdir(f->dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (f->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	pthread_mutex_init(&f->lock, NULL);
	load_all(f);
	*ret = f;
	return 0;
fail:
	free(f->dir);
	free(f->td);
	free(f);
	return r;
}

void federation_free(struct federation *f)
{
	if (!f)
		return;
	if (f->dirfd >= 0)
		close(f->dirfd);
	pthread_mutex_destroy(&f->lock);
	free(f->dir);
	free(f->td);
	free(f);
}

static void notify(struct federation *f)
{
	if (f->opts.notify)
		f->opts.notify(f->opts.ctx);
}

int federation_set(struct federation *f, const char *td, const char *json, size_t len,
		   struct federation_info *info, char *err, size_t errlen)
{
	char name[NAME_MAX + 1], why[256] = "";
	struct bundle *b = NULL;
	int r = check_td(f, td, err, errlen);

	if (r < 0)
		return r;
	if (len > FEDERATION_MAX_BYTES) {
		snprintf(err, errlen, "bundle is larger than %d bytes", FEDERATION_MAX_BYTES);
		return -EINVAL;
	}
	r = bundle_parse_spiffe(td, json, len, &b, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "invalid bundle for %s: %s", td,
			 r == -EINVAL ? why : strerror(-r));
		return r == -ENOMEM ? r : -EINVAL;
	}
	if (snprintf(name, sizeof(name), "%s.json", td) >= (int)sizeof(name)) {
		bundle_unref(b);
		snprintf(err, errlen, "trust domain name too long for a file name");
		return -EINVAL;
	}
	pthread_mutex_lock(&f->lock);
	r = write_atomic(f->dirfd, name, json, len);
	if (r < 0)
		snprintf(err, errlen, "cannot write %s/%s: %s", f->dir, name, strerror(-r));
	else if ((r = bundle_set_put(f->opts.bundles, b)) < 0)
		snprintf(err, errlen, "cannot hold the bundle: %s", strerror(-r));
	pthread_mutex_unlock(&f->lock);
	if (r == 0) {
		if (info)
			info_of(b, info);
		log_info("\"federated bundle set\" trust_domain=%s x509_authorities=%d "
			 "jwt_authorities=%zu sequence=%llu",
			 td, bundle_x509_count(b), bundle_jwt_count(b),
			 (unsigned long long)bundle_sequence(b));
		notify(f);
	}
	bundle_unref(b);
	return r;
}

int federation_delete(struct federation *f, const char *td)
{
	char name[NAME_MAX + 1], err[256];
	int r = check_td(f, td, err, sizeof(err));

	if (r < 0)
		return r;
	if (snprintf(name, sizeof(name), "%s.json", td) >= (int)sizeof(name))
		return -ENOENT;
	pthread_mutex_lock(&f->lock);
	r = unlinkat(f->dirfd, name, 0) < 0 ? -errno : 0;
	if (r == 0 && fsync(f->dirfd) < 0)
		r = -errno;
	/* Gone from the set also when only the set had it. */
	if (r == 0 || r == -ENOENT) {
		int s = bundle_set_remove(f->opts.bundles, td);

		if (r == -ENOENT && s == 0)
			r = 0;
	}
	pthread_mutex_unlock(&f->lock);
	if (r == 0) {
		log_info("\"federated bundle deleted\" trust_domain=%s", td);
		notify(f);
	}
	return r;
}

int federation_list(struct federation *f, struct federation_info **ret, size_t *ret_n)
{
	struct federation_info *v;
	struct bundle **bs = NULL;
	size_t n = 0, k = 0;
	int r = bundle_set_snapshot(f->opts.bundles, &bs, &n);

	if (r < 0)
		return r;
	v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		if (v && strcmp(bundle_trust_domain(bs[i]), f->td) != 0)
			info_of(bs[i], &v[k++]);
		bundle_unref(bs[i]);
	}
	free(bs);
	if (!v)
		return -ENOMEM;
	*ret = v;
	*ret_n = k;
	return 0;
}
