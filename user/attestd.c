// SPDX-License-Identifier: Apache-2.0
/*
 * attestd: loads the tracker, mirrors the process table, serves the admin
 * API.  The main thread runs one epoll loop over the ring buffer, a signal
 * fd and a resync timer; the RPC servers and the digest worker have their
 * own threads and meet the main thread only in the process table.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "admin_api.h"
#include "bootstrap.h"
#include "cleanup.h"
#include "config.h"
#include "hasher.h"
#include "log.h"
#include "privdrop.h"
#include "probe.h"
#include "procfs.h"
#include "proctable.h"
#include "proctable_hooks.h"
#include "registry.h"
#include "tracker_user.h"
/* Containers and pods (issue #6) */
#include "meta_cache.h"
#include "selectors_container.h"
/* Workload API (issue #5) */
#include "bundle.h"
#include "ca.h"
#include "federation.h"
#include "svid_cache.h"
#include "workload_api.h"
/* Metrics, health (issue #11) */
#include "health.h"
#include "http_server.h"
#include "telemetry.h"

struct daemon {
	struct config cfg;
	struct procfs fs;
	char v1_mount[PATH_MAX];
	struct proctable *pt;
	struct hasher *hasher;
	struct tracker *tracker;
	struct registry *registry;
	struct admin_api *admin;
	/* Workload API (issue #5): the CA, the bundles it serves, the SVID cache */
	struct ca *ca;
	struct bundle_set *bundles;
	uint64_t bundle_seq;
	struct svid_cache *cache;
	struct workload_api *wl;
	struct federation *federation; /* foreign trust domains' bundles (issue #4) */
	struct meta_cache *meta; /* docker:* and kubelet k8s:* metadata (issue #6) */
	struct health *health;	 /* /live, /ready, attestctl healthcheck (issue #11) */
	struct http_server *http; /* --metrics-addr */
	uint64_t lost_seen;
	uint64_t resyncs;
};

/*
 * Events that do not wake attestd (forks, exits) and deferred fork
 * derivations wait at most this long; an exec is handled at once.
 */
#define DRAIN_MS 25
#define FORK_DEFER_NS (20 * 1000000ULL)

static void on_state(void *ctx, __u32 type, const struct proc_state *st)
{
	struct daemon *d = ctx;
	/* A fork's identity is its parent's until it execs, which most do at once. */
	int r = proctable_upsert_flags(d->pt, st, type == EV_FORK ? PROCTABLE_DEFER : 0);

	health_event(d->health);

	if (r < 0)
		log_warn("\"cannot update process\" pid=%u error=\"%s\"", st->tgid, strerror(-r));
}

static void on_exit_event(void *ctx, __u32 tgid, __u64 start_ns, __u32 code)
{
	struct daemon *d = ctx;

	health_event(d->health);
	proctable_remove(d->pt, tgid, start_ns);
}

static int digest_hook(void *ctx, const struct proc_state *st, char hex[65])
{
	struct daemon *d = ctx;

	return hasher_get(d->hasher, st, hex);
}

static int match_hook(void *ctx, const char *const *sel, size_t n, struct strv *entry_ids,
		      struct strv *spiffe_ids)
{
	struct daemon *d = ctx;
	size_t before = entry_ids->n;
	int r = registry_match(d->registry, sel, n, entry_ids, spiffe_ids);

	telemetry_attestation(r < 0			 ? TELEMETRY_ATTEST_ERROR
			      : entry_ids->n > before ? TELEMETRY_MATCHED
						      : TELEMETRY_UNMATCHED);
	return r;
}

static bool runs_file(void *arg, const struct proc_state *st)
{
	return hasher_same_file(arg, st);
}

/* A digest arrived: give unix:sha256 to every process running that file. */
static void on_digest(void *ctx, const struct proc_state *st)
{
	struct daemon *d = ctx;

	proctable_rederive(d->pt, runs_file, (void *)st);
}

/* ---- Workload API wiring (issue #5) ---- */

/* The table's changed hook (its write lock held): both only queue. */
static void changed_hook(void *ctx, uint32_t tgid, uint64_t ticks, bool gone)
{
	struct daemon *d = ctx;

	svid_cache_process_changed(d->cache, tgid, ticks, gone);
	workload_api_process_changed(d->wl, tgid, ticks, gone);
}

static void entry_changed(void *ctx, enum registry_change what, const struct entry *e)
{
	struct daemon *d = ctx;

	svid_cache_entry_changed(d->cache, e->id);
}

/* Puts this trust domain's bundle, as the CA has it now, into the bundle set. */
static int publish_bundle(struct daemon *d)
{
	struct bundle *b = NULL;
	int r = ca_bundle(d->ca, ++d->bundle_seq, &b);

	if (r == 0)
		r = bundle_set_put(d->bundles, b);
	bundle_unref(b);
	return r;
}

/* Rotation: run from the main loop's timer. */
static void ca_maintain(struct daemon *d)
{
	unsigned ev = 0;
	int r;

	if (!d->ca || time(NULL) < ca_next_event(d->ca))
		return;
	r = ca_tick(d->ca, 0, &ev);
	if (r < 0) {
		log_error("\"CA rotation failed; will retry\" error=\"%s\"", strerror(-r));
		return;
	}
	if (!(ev & CA_EV_BUNDLE))
		return;
	r = publish_bundle(d);
	if (r < 0)
		log_error("\"cannot publish the new bundle\" error=\"%s\"", strerror(-r));
	else
		workload_api_bundles_changed(d->wl);
}

/* federation: a foreign bundle was set or deleted. */
static void federation_changed(void *ctx)
{
	struct daemon *d = ctx;

	if (d->wl)
		workload_api_bundles_changed(d->wl);
}

static int identity_start(struct daemon *d, const struct proctable_hooks *hooks, char *why,
			  size_t len)
{
	struct ca_opts copts = { .data_dir = d->cfg.data_dir,
				 .trust_domain = d->cfg.trust_domain,
				 .ca_ttl = d->cfg.ca_ttl };
	struct svid_cache_opts sopts = { .x509_ttl_max = d->cfg.x509_svid_max_ttl };
	struct svid_cache_deps sdeps;
	struct workload_opts wopts = {
	    .socket_path = d->cfg.socket_path,
	    .max_streams_per_uid = d->cfg.max_streams_per_uid,
	    .max_connections = d->cfg.max_connections,
	    .max_connections_per_uid = d->cfg.max_connections_per_uid,
	    .max_request_bytes = d->cfg.max_request_bytes,
	    .call_timeout_ms = d->cfg.call_timeout * 1000,
	};
	struct workload_deps wdeps;
	struct proctable_hooks h = *hooks;
	int r;

	/* Fleet: one upstream CA signs every node's CA, so all nodes share one bundle. */
	if (d->cfg.upstream_ca_cert[0]) {
		copts.upstream_cert = d->cfg.upstream_ca_cert;
		copts.upstream_key = d->cfg.upstream_ca_key;
	}
	r = ca_open(&copts, &d->ca);
	if (r < 0) {
		snprintf(why, len, "cannot open the CA in %s: %s", d->cfg.data_dir, strerror(-r));
		return r;
	}
	r = ca_tick(d->ca, 0, NULL);
	if (r == 0)
		r = bundle_set_new(&d->bundles);
	d->bundle_seq = (uint64_t)time(NULL); /* grows across restarts */
	if (r == 0)
		r = publish_bundle(d);
	if (r < 0) {
		snprintf(why, len, "cannot prepare the trust bundle: %s", strerror(-r));
		return r;
	}
	r = federation_open(&(struct federation_opts){ .data_dir = d->cfg.data_dir,
						       .trust_domain = d->cfg.trust_domain,
						       .bundles = d->bundles,
						       .notify = federation_changed,
						       .ctx = d },
			    &d->federation);
	if (r < 0) {
		snprintf(why, len, "cannot open %s/bundles: %s", d->cfg.data_dir, strerror(-r));
		return r;
	}
	sdeps = (struct svid_cache_deps){ d->ca, registry_matcher(d->registry), d->pt };
	r = svid_cache_new(&sopts, &sdeps, &d->cache);
	if (r < 0) {
		snprintf(why, len, "cannot start the SVID cache: %s", strerror(-r));
		return r;
	}
	wdeps = (struct workload_deps){ .pt = d->pt,
					.matcher = registry_matcher(d->registry),
					.ca = d->ca,
					.bundles = d->bundles,
					.cache = d->cache,
					.trust_domain = d->cfg.trust_domain,
					.tracker = d->tracker };
	r = workload_api_start(&wopts, &wdeps, &d->wl);
	if (r == -EADDRINUSE) {
		snprintf(why, len, "socket %s is in use by another process", d->cfg.socket_path);
		return r;
	}
	if (r < 0) {
		snprintf(why, len, "cannot serve socket %s: %s", d->cfg.socket_path, strerror(-r));
		return r;
	}
	/* The cache read the whole table when it started; from here on, changes. */
	h.changed = changed_hook;
	proctable_set_hooks(d->pt, &h);
	r = registry_add_listener(d->registry, entry_changed, d);
	if (r < 0) {
		snprintf(why, len, "cannot listen to the registry: %s", strerror(-r));
		return r;
	}
	return 0;
}

static void identity_stop(struct daemon *d, const struct proctable_hooks *hooks)
{
	/* No hook runs once this returns (it takes the table's write lock). */
	if (d->pt)
		proctable_set_hooks(d->pt, hooks);
	workload_api_stop(d->wl);
	d->wl = NULL;
	svid_cache_free(d->cache);
	d->cache = NULL;
	federation_free(d->federation);
	d->federation = NULL;
	bundle_set_unref(d->bundles);
	d->bundles = NULL;
	ca_free(d->ca);
	d->ca = NULL;
}

/* ---- end of Workload API wiring ---- */

/* ---- container and pod metadata (issue #6) ---- */

static bool in_ready(void *arg, const struct proc_state *st)
{
	const char *path = selectors_container_cgroup(st);
	struct cgroup_info ci;

	return path && cgroup_parse(path, &ci, NULL, 0) == 0 && meta_ready_affects(arg, &ci);
}

/* Metadata arrived (meta worker thread): those containers' and pods' processes again. */
static void meta_ready(void *ctx, const struct meta_ready *r)
{
	struct daemon *d = ctx;

	proctable_rederive(d->pt, in_ready, (void *)r);
}

static void mark_live(void *arg, const struct proc_state *st, uint64_t ticks)
{
	const char *path = selectors_container_cgroup(st);
	struct cgroup_info ci;

	if (path && cgroup_parse(path, &ci, NULL, 0) == 0)
		meta_cache_mark(arg, &ci);
}

/* The sweep (meta worker thread): what still has processes keeps its metadata. */
static void meta_live(void *ctx, struct meta_cache *mc)
{
	struct daemon *d = ctx;

	proctable_for_each(d->pt, mark_live, mc);
}

static int containers_start(struct daemon *d, char *why, size_t len)
{
	struct meta_cache_opts o = {
		.docker_socket = d->cfg.docker_socket,
		.docker_env_allow = d->cfg.docker_env_allow,
		.kubelet_url = d->cfg.kubelet_url,
		.kubelet_token_file = d->cfg.kubelet_token_file,
		.kubelet_ca_file = d->cfg.kubelet_ca_file,
		.kubelet_refresh_s = d->cfg.kubelet_refresh,
	};
	struct meta_cache_ops ops = { .ctx = d, .ready = meta_ready, .live = meta_live };
	int r;

	if (!d->cfg.docker_socket[0] && !d->cfg.kubelet_url[0])
		return 0;
	if (d->cfg.kubelet_url[0] && strncmp(d->cfg.kubelet_url, "https://", 8) != 0) {
		snprintf(why, len, "--kubelet-url %s: must be https:// (the token is sent)",
			 d->cfg.kubelet_url);
		return -EINVAL;
	}
	r = meta_cache_new(&o, &ops, &d->meta);
	if (r == -EINVAL)
		snprintf(why, len, "--docker-env-allow %s: list keys (KEY,KEY), not KEY=VALUE",
			 d->cfg.docker_env_allow);
	else if (r < 0)
		snprintf(why, len, "cannot start the container metadata worker: %s", strerror(-r));
	if (r < 0)
		return r;
	proctable_set_meta(d->pt, d->meta);
	log_info("\"container metadata\" docker_socket=%s kubelet=%s",
		 d->cfg.docker_socket[0] ? d->cfg.docker_socket : "off",
		 d->cfg.kubelet_url[0] ? d->cfg.kubelet_url : "off");
	return 0;
}

/* After everything that derives has stopped; before the table goes. */
static void containers_stop(struct daemon *d)
{
	if (d->pt)
		proctable_set_meta(d->pt, NULL);
	meta_cache_free(d->meta);
	d->meta = NULL;
}

/* ---- end of container and pod metadata ---- */

static int make_dir(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int resync(struct daemon *d, const char *why)
{
	struct sync_stats s;
	int r = bootstrap_sync(&d->fs, d->tracker, d->pt, &s);

	if (r < 0) {
		log_error("\"resync failed\" reason=%s error=\"%s\"", why, strerror(-r));
		return r;
	}
	d->resyncs++;
	telemetry_resync(why);
	log_info("\"process table synced\" reason=%s processes=%d exact_from_kernel=%d removed=%d",
		 why, s.seen, s.from_map, s.removed);
	return 0;
}

static void check_loss(struct daemon *d)
{
	struct tracker_stats ts;

	if (tracker_stats(d->tracker, &ts) < 0 || ts.lost == d->lost_seen)
		return;
	log_warn("\"ring buffer lost events; resyncing from /proc and the kernel map\" "
		 "lost=%llu lost_total=%llu",
		 (unsigned long long)(ts.lost - d->lost_seen), (unsigned long long)ts.lost);
	d->lost_seen = ts.lost;
	/* Drain what is queued first, so the sync is the last word. */
	tracker_poll(d->tracker, 0);
	resync(d, "event_loss");
}

/* ---- metrics and health (issue #11) ---- */

/* Health probes, scrape-time sources, and the --metrics-addr listener. */
static int ops_start(struct daemon *d, char *why, size_t len)
{
	struct health_deps hd = { .tracker = d->tracker,
				  .store = registry_store(d->registry),
				  .store_url = d->cfg.store_url,
				  .ca = d->ca,
				  .socket_path = d->cfg.socket_path };
	struct telemetry_sources ts = { .tracker = d->tracker,
					.pt = d->pt,
					.registry = d->registry,
					.cache = d->cache,
					.wl = d->wl,
					.health = d->health };
	int r = health_add_attestd(d->health, &hd);

	if (r == 0)
		r = health_start(d->health);
	if (r == 0)
		r = telemetry_start(&ts);
	if (r < 0) {
		snprintf(why, len, "cannot start the health checks: %s", strerror(-r));
		return r;
	}
	if (!d->cfg.metrics_addr[0])
		return 0;
	r = telemetry_serve(d->cfg.metrics_addr, d->health, &d->http, why, len);
	if (r < 0)
		return r;
	log_info("\"serving metrics and health\" addr=%s paths=/metrics,/live,/ready",
		 http_server_addr(d->http));
	return 0;
}

/* ---- end of metrics and health ---- */

/* privdrop: can the map still be read with the lowered set? */
static int bpf_probe(void *arg)
{
	struct daemon *d = arg;
	struct proc_state st;
	int r = tracker_lookup(d->tracker, (uint32_t)getpid(), &st);

	return r == -ENOENT ? 0 : r;
}

static int start(struct daemon *d, char *why, size_t len)
{
	struct tracker_opts topts = { d->cfg.ringbuf_bytes, d->cfg.max_procs };
	struct tracker_ops tops = { .ctx = d, .on_state = on_state, .on_exit = on_exit_event };
	struct proctable_hooks hooks = { .ctx = d, .digest = digest_hook, .match = match_hook };
	struct registry_opts ropts = { d->cfg.store_url, d->cfg.trust_domain, NULL,
				       d->cfg.node_name };
	struct admin_deps deps = { 0 };
	struct probe_result pr;
	char capnames[256];
	uint64_t kept = 0;
	int r;

	probe_run(&pr);
	r = probe_check(&pr, why, len);
	if (r < 0)
		return r;
	d->fs = (struct procfs){ "/proc", pr.cgroup2 };
	/* Hybrid and v1 hosts keep their containers in a v1 hierarchy too. */
	d->fs.v1_controller = tracker_v1_controller();
	if (d->fs.v1_controller)
		d->fs.v1_mount = procfs_v1_mount(d->fs.v1_controller, d->v1_mount,
						 sizeof(d->v1_mount));
	topts.v1_controller = d->fs.v1_controller;
	r = make_dir(d->cfg.data_dir, 0700);
	if (r < 0) {
		snprintf(why, len, "cannot create data dir %s: %s", d->cfg.data_dir, strerror(-r));
		return r;
	}
	/* Entries before processes: the first derivation already matches. */
	r = registry_open(&ropts, &d->registry, why, len);
	if (r < 0)
		return r;
	r = proctable_new(&d->pt);
	if (r == 0)
		r = health_new(NULL, &d->health); /* counts events from the first one */
	if (r < 0) {
		snprintf(why, len, "out of memory");
		return r;
	}
	/* Before the servers make them: another user must not be able to swap a socket. */
	r = privdrop_check_socket_dirs(d->cfg.socket_path, why, len);
	if (r == 0)
		r = privdrop_check_socket_dirs(d->cfg.admin_socket, why, len);
	if (r < 0)
		return r;
	r = tracker_open(&topts, &tops, &d->tracker, why, len);
	if (r < 0)
		return r;
	/*
	 * Attached: drop what only loading and attaching needed, while this is
	 * the only thread (capabilities are per thread; the threads started
	 * below inherit the lowered set).  Events wait in the ring buffer.
	 */
	r = privdrop_apply(bpf_probe, d, &kept, why, len);
	if (r < 0)
		return r;
	log_info("\"capabilities dropped\" kept=%s", privdrop_names(kept, capnames,
								      sizeof(capnames)));
	r = hasher_new(on_digest, d, &d->hasher);
	if (r < 0) {
		snprintf(why, len, "out of memory");
		return r;
	}
	proctable_set_hooks(d->pt, &hooks);
	registry_set_proctable(d->registry, d->pt);
	/* Before the first derivation, so the startup scan already queues metadata. */
	r = containers_start(d, why, len);
	if (r < 0)
		return r;
	/* Attached first, scanned second: nothing starts unseen in between. */
	r = resync(d, "startup");
	if (r < 0) {
		snprintf(why, len, "cannot read /proc: %s", strerror(-r));
		return r;
	}
	r = identity_start(d, &hooks, why, len);
	if (r < 0)
		return r;
	deps.pt = d->pt;
	deps.registry = d->registry;
	deps.health = d->health;
	deps.federation = d->federation;
	r = admin_api_start(d->cfg.admin_socket, &deps, &d->admin);
	if (r == -EADDRINUSE) {
		snprintf(why, len, "admin socket %s is in use by another process",
			 d->cfg.admin_socket);
		return r;
	}
	if (r < 0) {
		snprintf(why, len, "cannot serve admin socket %s: %s", d->cfg.admin_socket,
			 strerror(-r));
		return r;
	}
	/* Fleet: other nodes' entry changes, from here on (everything is wired to take them). */
	r = registry_watch(d->registry);
	if (r < 0) {
		snprintf(why, len, "cannot follow changes in store %s: %s", d->cfg.store_url,
			 strerror(-r));
		return r;
	}
	r = ops_start(d, why, len);
	if (r < 0)
		return r;
	if (registry_node_id(d->registry))
		log_info("\"node identity\" node_id=%s", registry_node_id(d->registry));
	log_info("\"attestd started\" trust_domain=%s node=%s admin_socket=%s cgroup2=%s "
		 "cgroup_v1=%s processes=%zu entries=%zu",
		 d->cfg.trust_domain, d->cfg.node_name, d->cfg.admin_socket, pr.cgroup2,
		 d->fs.v1_controller ? d->fs.v1_controller : "none",
		 proctable_count(d->pt), registry_count(d->registry));
	return 0;
}

static void stop(struct daemon *d)
{
	struct proctable_hooks hooks = { .ctx = d, .digest = digest_hook, .match = match_hook };

	/* Scrapes read everything below: the listener goes first. */
	http_server_stop(d->http);
	d->http = NULL;
	telemetry_stop();
	/* The store's watcher reaches the table and the SVID cache: it stops first. */
	registry_unwatch(d->registry);
	admin_api_stop(d->admin);
	/* Its probes read the tracker, the store and the CA; the admin API reads it. */
	health_free(d->health);
	d->health = NULL;
	identity_stop(d, &hooks);
	tracker_close(d->tracker);
	hasher_free(d->hasher);
	containers_stop(d);
	/* The table's hooks reach the registry: the table goes first. */
	proctable_free(d->pt);
	registry_close(d->registry);
}

static void reload(struct daemon *d, int argc, char **argv)
{
	struct config cfg;
	char err[256];

	if (config_load(&cfg, argc, argv, err, sizeof(err)) != CONFIG_OK) {
		log_error("\"reload failed; keeping the running config\" error=\"%s\"", err);
		return;
	}
	/* Only what can change without a restart: the rest needs one. */
	d->cfg.level = cfg.level;
	log_setup(cfg.level, strcmp(cfg.log_format, "json") == 0);
	log_info("\"config reloaded\" log_level=%s", cfg.log_level);
}

static int run(struct daemon *d, int argc, char **argv)
{
	_cleanup_close_ int ep = -1, sfd = -1, tfd = -1;
	struct itimerspec its = { { d->cfg.resync_interval, 0 }, { d->cfg.resync_interval, 0 } };
	struct epoll_event ev, evs[4];
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
		return -errno;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 0 };
	epoll_ctl(ep, EPOLL_CTL_ADD, tracker_fd(d->tracker), &ev);
	ev.data.u32 = 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u32 = 2;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

	for (;;) {
		int n = epoll_wait(ep, evs, ARRAY_SIZE(evs), DRAIN_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		health_loop_tick(d->health);
		/* Drain what came without a wake-up, then derive the forks that did not exec. */
		tracker_poll(d->tracker, 0);
		proctable_derive_pending(d->pt, FORK_DEFER_NS);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 0) {
				continue; /* drained above */
			} else if (evs[i].data.u32 == 2) {
				uint64_t ticks;

				(void)!read(tfd, &ticks, sizeof(ticks));
				check_loss(d);
				ca_maintain(d);
			} else {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					reload(d, argc, argv);
					continue;
				}
				log_info("\"shutting down\" signal=%s", strsignal(si.ssi_signo));
				return 0;
			}
		}
	}
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	char why[512] = "";
	sigset_t mask;
	int r;

	r = config_load(&d.cfg, argc, argv, why, sizeof(why));
	if (r == CONFIG_EXIT)
		return 0;
	if (r < 0) {
		fprintf(stderr, "attestd: %s\n", why);
		return r == -EINVAL ? 2 : 1;
	}
	log_setup(d.cfg.level, strcmp(d.cfg.log_format, "json") == 0);
	/* Block the signals before any thread starts, so only the signalfd sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = start(&d, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "attestd: %s\n", why);
		stop(&d);
		return 1;
	}
	r = run(&d, argc, argv);
	stop(&d);
	if (r < 0) {
		fprintf(stderr, "attestd: event loop failed: %s\n", strerror(-r));
		return 1;
	}
	log_info("\"stopped\"");
	return 0;
}
