/*
 * Unit tests for the per-source tables, on stepped time (now_ms is a
 * number the test moves): source keys, queries in flight per source with
 * a cap, and token buckets that refill with time, in a table whose bound
 * holds under any number of sources.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dohstub/ratelimit.h"
#include "check.h"

static struct ratelimit_key
key(const char *ip, unsigned v6_bits)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct ratelimit_key k;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(5353);
		len = sizeof(*sin);
	} else {
		CHECK(inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1);
		sin6->sin6_family = AF_INET6;
		len = sizeof(*sin6);
	}
	CHECK_EQ(ratelimit_key_set(&k, (struct sockaddr *)&ss, len, v6_bits),
	    0);
	return k;
}

static int
same(struct ratelimit_key a, struct ratelimit_key b)
{
	return a.family == b.family && memcmp(a.addr, b.addr, 16) == 0;
}

/* The port never matters; mapped IPv4 is IPv4; IPv6 by prefix. */
static void
test_keys(void)
{
	struct sockaddr_storage ss;
	struct ratelimit_key k;

	CHECK(same(key("192.0.2.1", 64), key("::ffff:192.0.2.1", 64)));
	CHECK(!same(key("192.0.2.1", 64), key("192.0.2.2", 64)));
	CHECK_EQ(key("192.0.2.1", 64).family, 4);
	CHECK(same(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff::9",
	    64)));
	CHECK(!same(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64)));
	CHECK(!same(key("2001:db8:1:2::1", 128), key("2001:db8:1:2::2",
	    128)));
	CHECK(same(key("2001:db8:1:2::1", 56), key("2001:db8:1:ff::1", 56)));
	CHECK(!same(key("::1", 128), key("0.0.0.1", 128)));

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CHECK_EQ(ratelimit_key_set(&k, (struct sockaddr *)&ss, sizeof(ss), 64),
	    -1);
	ss.ss_family = AF_INET;
	CHECK_EQ(ratelimit_key_set(&k, (struct sockaddr *)&ss, 4, 64), -1);
}

/*
 * A cap per source; sources are independent; an entry goes with its
 * last query, so the table holds only sources with queries in flight.
 */
static void
test_clients(void)
{
	struct ratelimit_clients *t;
	struct ratelimit_key a = key("127.0.0.2", 128), b = key("127.0.0.3",
	    128), k;
	int sa[4], sb, s, slots[64];
	char ip[32];
	size_t i;

	CHECK((t = ratelimit_clients_new(8, 42)) != NULL);
	for (i = 0; i < 3; i++)
		CHECK((sa[i] = ratelimit_clients_take(t, &a, 3)) >= 0);
	CHECK_EQ(ratelimit_clients_take(t, &a, 3), -1);
	CHECK_EQ(ratelimit_clients_count(t, &a), 3);
	CHECK((sb = ratelimit_clients_take(t, &b, 3)) >= 0);
	CHECK_EQ(ratelimit_clients_sources(t), 2);
	/* cap 0: none. */
	CHECK((sa[3] = ratelimit_clients_take(t, &a, 0)) >= 0);
	CHECK_EQ(ratelimit_clients_count(t, &a), 4);
	ratelimit_clients_release(t, sa[3]);
	ratelimit_clients_release(t, sa[0]);
	CHECK_EQ(ratelimit_clients_count(t, &a), 2);
	CHECK((sa[0] = ratelimit_clients_take(t, &a, 3)) >= 0);
	for (i = 0; i < 3; i++)
		ratelimit_clients_release(t, sa[i]);
	CHECK_EQ(ratelimit_clients_count(t, &a), 0);
	CHECK_EQ(ratelimit_clients_sources(t), 1);
	ratelimit_clients_release(t, sb);
	CHECK_EQ(ratelimit_clients_sources(t), 0);
	ratelimit_clients_release(t, sb);	/* twice: a no-op */
	ratelimit_clients_release(t, -1);
	CHECK_EQ(ratelimit_clients_sources(t), 0);

	/* Room for 8 sources: a 9th is refused, not stored. */
	for (i = 0; i < 9; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%zu", i);
		k = key(ip, 128);
		slots[i] = ratelimit_clients_take(t, &k, 1);
		CHECK(i < 8 ? slots[i] >= 0 : slots[i] == -1);
	}
	CHECK_EQ(ratelimit_clients_sources(t), 8);
	/* Growing keeps the slots handed out and their counts. */
	CHECK_EQ(ratelimit_clients_grow(t, 64), 0);
	CHECK_EQ(ratelimit_clients_grow(t, 4), 0);
	for (i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%zu", i);
		k = key(ip, 128);
		CHECK_EQ(ratelimit_clients_count(t, &k), 1);
		CHECK_EQ(ratelimit_clients_take(t, &k, 1), -1);
	}
	for (i = 8; i < 64; i++) {
		snprintf(ip, sizeof(ip), "10.0.1.%zu", i);
		k = key(ip, 128);
		CHECK((slots[i] = ratelimit_clients_take(t, &k, 1)) >= 0);
	}
	CHECK_EQ(ratelimit_clients_sources(t), 64);
	for (i = 0; i < 64; i++)
		ratelimit_clients_release(t, slots[i]);
	CHECK_EQ(ratelimit_clients_sources(t), 0);
	/* Everything was given back: the whole room is there again. */
	for (i = 0; i < 64; i++) {
		snprintf(ip, sizeof(ip), "10.0.2.%zu", i);
		k = key(ip, 128);
		CHECK((s = ratelimit_clients_take(t, &k, 1)) >= 0);
	}
	CHECK_EQ(ratelimit_clients_sources(t), 64);
	ratelimit_clients_free(t);
}

/* A burst of qps, then qps a second, refilled in exact steps. */
static void
test_buckets(void)
{
	struct ratelimit *rl;
	struct ratelimit_key a = key("198.51.100.7", 64), b = key(
	    "198.51.100.8", 64);
	uint64_t now = 5000;
	int i, ok;

	CHECK((rl = ratelimit_new(16, 7)) != NULL);
	for (ok = 0, i = 0; i < 20; i++)
		ok += ratelimit_allow(rl, &a, 10, now);
	CHECK_EQ(ok, 10);
	CHECK_EQ(ratelimit_stats(rl)->limited, 10);
	/* Another source has its own bucket. */
	CHECK_EQ(ratelimit_allow(rl, &b, 10, now), 1);
	/* 10 q/s: one token every 100 ms, none before. */
	CHECK_EQ(ratelimit_allow(rl, &a, 10, now + 99), 0);
	CHECK_EQ(ratelimit_allow(rl, &a, 10, now + 100), 1);
	CHECK_EQ(ratelimit_allow(rl, &a, 10, now + 100), 0);
	/* Half a second: five. */
	for (ok = 0, i = 0; i < 10; i++)
		ok += ratelimit_allow(rl, &a, 10, now + 600);
	CHECK_EQ(ok, 5);
	/* A long absence fills the bucket, no more. */
	for (ok = 0, i = 0; i < 30; i++)
		ok += ratelimit_allow(rl, &a, 10, now + 3600 * 1000);
	CHECK_EQ(ok, 10);
	/* A lower limit (reload) caps what is there. */
	now += 3600 * 1000 + 10 * 1000;
	for (ok = 0, i = 0; i < 10; i++)
		ok += ratelimit_allow(rl, &a, 2, now);
	CHECK_EQ(ok, 2);
	/* Time that goes backwards gives nothing. */
	CHECK_EQ(ratelimit_allow(rl, &a, 2, now - 5000), 0);
	CHECK_EQ(ratelimit_stats(rl)->entries, 2);
	CHECK_EQ(ratelimit_stats(rl)->evictions, 0);
	ratelimit_free(rl);
}

/*
 * Far more sources than entries: the table stays at its size, the least
 * recent entry is reused, and a source still in it keeps its state; one
 * that was reused starts again with a full bucket.
 */
static void
test_bound(void)
{
	struct ratelimit *rl;
	struct ratelimit_key hot = key("192.0.2.1", 64), cold = key(
	    "203.0.113.9", 64), k;
	char ip[64];
	unsigned i, allowed = 0, hot_ok = 0;
	int ok;

	CHECK((rl = ratelimit_new(100, 99)) != NULL);
	/* Both spend their whole burst of 5. */
	for (ok = 0, i = 0; i < 10; i++)
		ok += ratelimit_allow(rl, &hot, 5, 1000) +
		    ratelimit_allow(rl, &cold, 5, 1000);
	CHECK_EQ(ok, 10);
	for (i = 0; i < 100000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255,
		    i & 255);
		k = key(ip, 64);
		allowed += (unsigned)ratelimit_allow(rl, &k, 5, 1000);
		/* hot is seen often, so it is never the least recent. */
		if (i % 50 == 0)
			hot_ok += (unsigned)ratelimit_allow(rl, &hot, 5, 1000);
	}
	CHECK_EQ(allowed, 100000);
	CHECK_EQ(hot_ok, 0);
	CHECK_EQ(ratelimit_stats(rl)->entries, 100);
	CHECK_EQ(ratelimit_stats(rl)->size, 100);
	CHECK_EQ(ratelimit_stats(rl)->evictions, 100000 + 2 - 100);
	/* cold was reused long ago: it is forgotten, its burst is back. */
	for (ok = 0, i = 0; i < 10; i++)
		ok += ratelimit_allow(rl, &cold, 5, 1000);
	CHECK_EQ(ok, 5);
	/* IPv6 sources of one /64 share one entry. */
	for (ok = 0, i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:0:1::%x", i + 1);
		k = key(ip, 64);
		ok += ratelimit_allow(rl, &k, 5, 1000);
	}
	CHECK_EQ(ok, 5);
	CHECK_EQ(ratelimit_stats(rl)->entries, 100);
	ratelimit_free(rl);
	CHECK(ratelimit_new(0, 1) == NULL);
}

int
main(void)
{
	test_keys();
	test_clients();
	test_buckets();
	test_bound();
	return check_summary();
}
