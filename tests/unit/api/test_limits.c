/* Check suite for the API's per-address and global limits (api/limits.c):
 * connection caps, request-body budgets, streamed-answer caps per address
 * and per user, counters and gauges, and that entries go once empty. */
#include "api_limits.h"

#include "api_core.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static struct d4_api_limits *mk(unsigned conns, unsigned per_addr, uint64_t inflight, uint64_t inflight_addr,
				unsigned exp_addr, unsigned exp_user)
{
	struct d4_api_limits_conf c = {conns, per_addr, inflight, inflight_addr, exp_addr, exp_user};
	struct d4_api_limits *l = d4_api_limits_new(&c);
	ck_assert_ptr_nonnull(l);
	return l;
}

START_TEST(test_conn_caps)
{
	struct d4_api_limits *l = mk(5, 2, 0, 0, 0, 0);
	enum d4_api_limit why = D4_LIM_COUNT;
	struct d4_api_peer *a1 = d4_api_limits_conn_open(l, "192.0.2.1", &why);
	struct d4_api_peer *a2 = d4_api_limits_conn_open(l, "192.0.2.1", &why);
	ck_assert_ptr_nonnull(a1);
	ck_assert_ptr_eq(a1, a2);
	ck_assert_ptr_null(d4_api_limits_conn_open(l, "192.0.2.1", &why));
	ck_assert_int_eq(why, D4_LIM_CONN_ADDR);
	/* other addresses are not affected */
	struct d4_api_peer *b = d4_api_limits_conn_open(l, "192.0.2.2", &why);
	struct d4_api_peer *c = d4_api_limits_conn_open(l, "2001:db8::1", &why);
	struct d4_api_peer *d = d4_api_limits_conn_open(l, "192.0.2.3", &why);
	ck_assert(b && c && d);
	/* 5 in all */
	why = D4_LIM_COUNT;
	ck_assert_ptr_null(d4_api_limits_conn_open(l, "192.0.2.4", &why));
	ck_assert_int_eq(why, D4_LIM_CONN_TOTAL);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_CONN_ADDR), 1);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_CONN_TOTAL), 1);
	struct d4_api_limits_stats st;
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.conns, 5);
	ck_assert_uint_eq(st.peers, 4);
	/* a closed connection frees its slot; an empty entry goes */
	d4_api_limits_conn_close(l, a1);
	ck_assert_ptr_nonnull(d4_api_limits_conn_open(l, "192.0.2.4", &why));
	d4_api_limits_conn_close(l, d);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.conns, 4);
	ck_assert_uint_eq(st.peers, 4); /* .1 (one left), .2, ::1, .4 */
	unsigned n, e;
	uint64_t in;
	d4_api_limits_peer_stats(l, "192.0.2.1", &n, &in, &e);
	ck_assert_uint_eq(n, 1);
	d4_api_limits_peer_stats(l, "192.0.2.3", &n, &in, &e);
	ck_assert_uint_eq(n, 0);
	d4_api_limits_free(l);
}
END_TEST

START_TEST(test_body_budgets)
{
	struct d4_api_limits *l = mk(0, 0, 1000, 600, 0, 0);
	enum d4_api_limit why;
	struct d4_api_peer *a = d4_api_limits_conn_open(l, "192.0.2.1", &why);
	struct d4_api_peer *b = d4_api_limits_conn_open(l, "192.0.2.2", &why);
	ck_assert_int_eq(d4_api_limits_body_add(l, a, 600), 0);
	ck_assert_int_eq(d4_api_limits_body_add(l, a, 1), D4_LIM_INFLIGHT_ADDR);
	ck_assert_int_eq(d4_api_limits_body_add(l, b, 400), 0);
	/* the global budget is checked first: 1000 in all */
	ck_assert_int_eq(d4_api_limits_body_add(l, b, 1), D4_LIM_INFLIGHT_TOTAL);
	ck_assert_int_eq(d4_api_limits_body_add(l, b, UINT64_MAX), D4_LIM_INFLIGHT_TOTAL);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_INFLIGHT_ADDR), 1);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_INFLIGHT_TOTAL), 2);
	struct d4_api_limits_stats st;
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.inflight, 1000);
	d4_api_limits_body_release(l, a, 600);
	ck_assert_int_eq(d4_api_limits_body_add(l, b, 200), 0);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.inflight, 600);
	/* an entry with bytes outlives its last connection until released */
	d4_api_limits_conn_close(l, b);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.peers, 2);
	d4_api_limits_body_release(l, b, 600);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.peers, 1);
	ck_assert_uint_eq(st.inflight, 0);
	d4_api_limits_conn_close(l, a);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.peers, 0);
	d4_api_limits_free(l);
}
END_TEST

START_TEST(test_export_caps)
{
	struct d4_api_limits *l = mk(0, 0, 0, 0, 3, 2);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.1", "alice"), 0);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.1", "alice"), 0);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.1", "alice"), D4_LIM_EXPORTS_USER);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.2", "alice"), D4_LIM_EXPORTS_USER);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.1", "bob"), 0);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.1", "carol"), D4_LIM_EXPORTS_ADDR);
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.9", "carol"), 0);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_EXPORTS_USER), 2);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_EXPORTS_ADDR), 1);
	struct d4_api_limits_stats st;
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.exports, 4);
	d4_api_limits_export_close(l, "192.0.2.1", "alice");
	ck_assert_int_eq(d4_api_limits_export_open(l, "192.0.2.2", "alice"), 0);
	d4_api_limits_export_close(l, "192.0.2.1", "alice");
	d4_api_limits_export_close(l, "192.0.2.2", "alice");
	d4_api_limits_export_close(l, "192.0.2.1", "bob");
	d4_api_limits_export_close(l, "192.0.2.9", "carol");
	/* closing what is not open changes nothing */
	d4_api_limits_export_close(l, "192.0.2.77", "nobody");
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.exports, 0);
	ck_assert_uint_eq(st.peers, 0);
	d4_api_limits_free(l);
}
END_TEST

START_TEST(test_names)
{
	for (int i = 0; i < D4_LIM_COUNT; i++) {
		const char *n = d4_api_limit_name((enum d4_api_limit)i);
		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "unknown");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(n, d4_api_limit_name((enum d4_api_limit)j));
	}
	ck_assert_str_eq(d4_api_limit_name(D4_LIM_COUNT), "unknown");
}
END_TEST

/* Many distinct addresses: the table holds exactly the live ones. */
START_TEST(test_many_addresses)
{
	struct d4_api_limits *l = mk(0, 1, 0, 0, 0, 0);
	struct d4_api_peer *p[3000];
	enum d4_api_limit why;
	char a[64];
	for (int i = 0; i < 3000; i++) {
		snprintf(a, sizeof(a), "10.%d.%d.1", i / 256, i % 256);
		p[i] = d4_api_limits_conn_open(l, a, &why);
		ck_assert_ptr_nonnull(p[i]);
	}
	struct d4_api_limits_stats st;
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.peers, 3000);
	for (int i = 0; i < 3000; i++)
		d4_api_limits_conn_close(l, p[i]);
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.peers, 0);
	ck_assert_uint_eq(st.conns, 0);
	d4_api_limits_free(l);
}
END_TEST

/* ---- shared by the API's event-loop threads ---------------------------------
 * The threads start each round together (a barrier): the caps must hold
 * exactly whatever the interleaving. No timing is asserted. */
#define NTHR   8
#define ROUNDS 200

struct thr {
	struct d4_api_limits *l;
	struct d4_api_ratelimit *rl;
	pthread_barrier_t *bar;
	unsigned opened, refused, allowed;
};

static void *conn_worker(void *arg)
{
	struct thr *t = arg;
	for (int r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(t->bar);
		enum d4_api_limit why = D4_LIM_COUNT;
		struct d4_api_peer *p = d4_api_limits_conn_open(t->l, "192.0.2.1", &why);
		if (p) {
			t->opened++;
			ck_assert_int_eq(d4_api_limits_body_add(t->l, p, 10), 0);
		} else {
			ck_assert_int_eq(why, D4_LIM_CONN_ADDR);
			t->refused++;
		}
		/* everyone has tried before anyone closes */
		pthread_barrier_wait(t->bar);
		if (p) {
			d4_api_limits_body_release(t->l, p, 10);
			d4_api_limits_conn_close(t->l, p);
		}
	}
	return NULL;
}

START_TEST(test_threads_conn_cap)
{
	struct d4_api_limits_conf c = {.max_conns_per_addr = 3, .max_conns = 100};
	struct d4_api_limits *l = d4_api_limits_new(&c);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTHR);
	struct thr t[NTHR];
	pthread_t th[NTHR];
	for (int i = 0; i < NTHR; i++) {
		t[i] = (struct thr){.l = l, .bar = &bar};
		ck_assert_int_eq(pthread_create(&th[i], NULL, conn_worker, &t[i]), 0);
	}
	unsigned opened = 0, refused = 0;
	for (int i = 0; i < NTHR; i++) {
		pthread_join(th[i], NULL);
		opened += t[i].opened;
		refused += t[i].refused;
	}
	/* exactly 3 per round got in, whichever threads */
	ck_assert_uint_eq(opened, 3u * ROUNDS);
	ck_assert_uint_eq(refused, (NTHR - 3u) * ROUNDS);
	ck_assert_uint_eq(d4_api_limits_hits(l, D4_LIM_CONN_ADDR), (NTHR - 3u) * ROUNDS);
	struct d4_api_limits_stats st;
	d4_api_limits_stats(l, &st);
	ck_assert_uint_eq(st.conns, 0);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.peers, 0);
	pthread_barrier_destroy(&bar);
	d4_api_limits_free(l);
}
END_TEST

static void *fail_worker(void *arg)
{
	struct thr *t = arg;
	pthread_barrier_wait(t->bar);
	for (int i = 0; i < 100; i++) {
		/* the dispatcher's order: check, then count the failure */
		if (d4_api_ratelimit_check(t->rl, "198.51.100.7", 1000) == 0 &&
		    d4_api_ratelimit_fail(t->rl, "198.51.100.7", 1000) == 0)
			t->allowed++;
		if (d4_api_ratelimit_take2(t->rl, "user:x", "addr:y", 1000) == 0)
			t->opened++;
	}
	return NULL;
}

START_TEST(test_threads_ratelimit)
{
	struct d4_api_ratelimit *rl = d4_api_ratelimit_new(37, 60);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, NTHR);
	struct thr t[NTHR];
	pthread_t th[NTHR];
	for (int i = 0; i < NTHR; i++) {
		t[i] = (struct thr){.rl = rl, .bar = &bar};
		ck_assert_int_eq(pthread_create(&th[i], NULL, fail_worker, &t[i]), 0);
	}
	unsigned allowed = 0, taken = 0;
	for (int i = 0; i < NTHR; i++) {
		pthread_join(th[i], NULL);
		allowed += t[i].allowed;
		taken += t[i].opened;
	}
	/* 800 attempts each: exactly the limit answered as plain failures
	 * (401) and exactly the limit of registrations let through */
	ck_assert_uint_eq(allowed, 37);
	ck_assert_uint_eq(taken, 37);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "198.51.100.7", 1001), 59);
	ck_assert_uint_eq(d4_api_ratelimit_check(rl, "198.51.100.8", 1001), 0);
	pthread_barrier_destroy(&bar);
	d4_api_ratelimit_free(rl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api_limits");
	TCase *tc = tcase_create("limits");
	tcase_add_test(tc, test_conn_caps);
	tcase_add_test(tc, test_body_budgets);
	tcase_add_test(tc, test_export_caps);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_many_addresses);
	tcase_add_test(tc, test_threads_conn_cap);
	tcase_add_test(tc, test_threads_ratelimit);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
