/*
 * plain against a scripted DNS server of our own on 127.0.0.1 (UDP and TCP
 * on one port, run by the same event base), because these cases are about
 * exact wire behaviour a real server will not produce on demand: wrong IDs,
 * wrong questions, TC=1, silence.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "dohstub/clock.h"
#include "dohstub/addr.h"
#include "dohstub/plain.h"

#include "check.h"
#include "wire.h"

#define T_A	1
#define T_AAAA	28

static struct event_base *base;

/* --- DNS wire helpers ------------------------------------------------- */

static size_t
dns_query(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype)
{
	const char *s = name, *dot;
	size_t n = 12, l;

	memset(buf, 0, 12);
	wr16(buf, id);
	buf[2] = 0x01;		/* RD */
	wr16(buf + 4, 1);
	while (*s != '\0') {
		dot = strchr(s, '.');
		l = dot != NULL ? (size_t)(dot - s) : strlen(s);
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, s, l);
		n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	buf[n++] = 0;
	wr16(buf + n, qtype);
	wr16(buf + n + 2, 1);
	return n + 4;
}

/* Offset just past the question, or 0 if there is none. */
static size_t
dns_qend(const uint8_t *m, size_t len)
{
	size_t off = 12;

	if (len < 12 || rd16(m + 4) != 1)
		return 0;
	while (off < len && m[off] != 0) {
		if (m[off] & 0xc0)
			return 0;
		off += m[off] + 1;
	}
	off += 1 + 4;
	return off <= len ? off : 0;
}

/* The question's name, dotted, into buf (256 bytes). */
static const char *
dns_qname(const uint8_t *m, size_t len, char *buf)
{
	size_t off = 12, n = 0;

	buf[0] = '\0';
	if (dns_qend(m, len) == 0)
		return buf;
	while (m[off] != 0 && n + m[off] + 2 < 256) {
		if (n > 0)
			buf[n++] = '.';
		memcpy(buf + n, m + off + 1, m[off]);
		n += m[off];
		off += m[off] + 1;
	}
	buf[n] = '\0';
	return buf;
}

static uint16_t
dns_qtype(const uint8_t *m, size_t len)
{
	size_t end = dns_qend(m, len);

	return end == 0 ? 0 : rd16(m + end - 4);
}

struct rr {
	uint16_t	type;
	uint32_t	ttl;
	const char	*addr;	/* text form */
};

/* An answer to q: same ID and question, rcode, TC, records. */
static size_t
dns_reply(uint8_t *out, const uint8_t *q, size_t qlen, int rcode, int tc,
    const struct rr *rrs, size_t nrr)
{
	size_t end = dns_qend(q, qlen), n, i;
	uint8_t rdata[16];
	uint16_t rdlen;

	if (end == 0)
		return 0;
	memcpy(out, q, end);
	out[2] = 0x80 | (q[2] & 0x01) | (tc ? 0x02 : 0);
	out[3] = 0x80 | (rcode & 0x0f);
	wr16(out + 6, (uint16_t)nrr);
	wr16(out + 8, 0);
	wr16(out + 10, 0);
	n = end;
	for (i = 0; i < nrr; i++) {
		if (rrs[i].type == T_A) {
			inet_pton(AF_INET, rrs[i].addr, rdata);
			rdlen = 4;
		} else {
			inet_pton(AF_INET6, rrs[i].addr, rdata);
			rdlen = 16;
		}
		out[n++] = 0xc0;
		out[n++] = 0x0c;
		wr16(out + n, rrs[i].type);
		wr16(out + n + 2, 1);
		wr32(out + n + 4, rrs[i].ttl);
		wr16(out + n + 8, rdlen);
		memcpy(out + n + 10, rdata, rdlen);
		n += 10 + rdlen;
	}
	return n;
}

/* The first answer record's A address as text, or "". */
static const char *
dns_first_a(const uint8_t *m, size_t len, char *buf)
{
	size_t end = dns_qend(m, len);

	buf[0] = '\0';
	if (end == 0 || rd16(m + 6) == 0 || len < end + 16 ||
	    rd16(m + end + 2) != T_A)
		return buf;
	inet_ntop(AF_INET, m + end + 12, buf, INET_ADDRSTRLEN);
	return buf;
}

/* --- the fake server ------------------------------------------------- */

enum fake_mode {
	FAKE_ANSWER,	/* A 192.0.2.1 (or no records) with f->rcode */
	FAKE_SILENT,	/* never answers */
	FAKE_TC,	/* UDP: TC=1 and no records; TCP: 40 records */
	FAKE_BOGUS,	/* wrong ID, then wrong question, the answer later */
	FAKE_DELAY,	/* the answer 50 ms later */
	FAKE_ZONE,	/* multi.test A A AAAA, anything else NXDOMAIN */
};

#define FAKE_MAXCONN	8
#define TC_RECORDS	40

struct fake {
	enum fake_mode		 mode;
	int			 rcode;
	int			 udp, tcp;
	uint16_t		 port;
	struct event		*udp_ev, *tcp_ev, *delay_ev;
	struct bufferevent	*conns[FAKE_MAXCONN];
	int			 nudp, ntcp;	/* queries received */
	uint16_t		 last_id;
	char			 last_name[256];
	uint16_t		 last_qtype;
	/* one answer held back */
	uint8_t			 delay_buf[512];
	size_t			 delay_len;
	struct sockaddr_storage	 delay_to;
	socklen_t		 delay_tolen;
	int			 delayed_sent;
	const int		*watch;		/* sampled when it is sent */
	int			 watch_at_send;
};

static size_t
fake_answer(struct fake *f, const uint8_t *q, size_t qlen, int tcp,
    uint8_t *out)
{
	static const struct rr a = { T_A, 60, "192.0.2.1" };
	static const struct rr zone_a[] = {
		{ T_A, 300, "192.0.2.10" },
		{ T_A, 100, "192.0.2.11" },
	};
	static const struct rr zone_aaaa = { T_AAAA, 200, "2001:db8::1" };
	struct rr many[TC_RECORDS];
	char addrs[TC_RECORDS][16], name[256];
	size_t i;

	switch (f->mode) {
	case FAKE_TC:
		if (!tcp)
			return dns_reply(out, q, qlen, 0, 1, NULL, 0);
		for (i = 0; i < TC_RECORDS; i++) {
			snprintf(addrs[i], sizeof(addrs[i]), "10.0.0.%zu", i);
			many[i].type = T_A;
			many[i].ttl = 60;
			many[i].addr = addrs[i];
		}
		return dns_reply(out, q, qlen, 0, 0, many, TC_RECORDS);
	case FAKE_ZONE:
		if (strcmp(dns_qname(q, qlen, name), "multi.test") != 0)
			return dns_reply(out, q, qlen, 3, 0, NULL, 0);
		if (dns_qtype(q, qlen) == T_A)
			return dns_reply(out, q, qlen, 0, 0, zone_a, 2);
		if (dns_qtype(q, qlen) == T_AAAA)
			return dns_reply(out, q, qlen, 0, 0, &zone_aaaa, 1);
		return dns_reply(out, q, qlen, 0, 0, NULL, 0);
	default:
		return dns_reply(out, q, qlen, f->rcode, 0, &a,
		    f->rcode == 0 ? 1 : 0);
	}
}

static void
fake_note(struct fake *f, const uint8_t *q, size_t qlen)
{
	if (qlen >= 2)
		f->last_id = rd16(q);
	dns_qname(q, qlen, f->last_name);
	f->last_qtype = dns_qtype(q, qlen);
}

static void
fake_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;

	(void)fd;
	(void)what;
	if (f->watch != NULL)
		f->watch_at_send = *f->watch;
	sendto(f->udp, f->delay_buf, f->delay_len, 0,
	    (struct sockaddr *)&f->delay_to, f->delay_tolen);
	f->delayed_sent++;
}

static void
fake_hold(struct fake *f, const uint8_t *ans, size_t len,
    const struct sockaddr_storage *to, socklen_t tolen)
{
	struct timeval tv = { 0, 50000 };

	memcpy(f->delay_buf, ans, len);
	f->delay_len = len;
	f->delay_to = *to;
	f->delay_tolen = tolen;
	evtimer_add(f->delay_ev, &tv);
}

static void
fake_udp_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct rr evil = { T_A, 60, "192.0.2.66" };
	struct fake *f = arg;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t q[512], ans[4096], q2[512];
	ssize_t r;
	size_t len, q2len;

	(void)what;
	r = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
	if (r <= 0)
		return;
	f->nudp++;
	fake_note(f, q, (size_t)r);
	if (f->mode == FAKE_SILENT)
		return;
	if ((len = fake_answer(f, q, (size_t)r, 0, ans)) == 0)
		return;
	switch (f->mode) {
	case FAKE_BOGUS:
		/* The right question under another ID... */
		wr16(ans, f->last_id ^ 0x5a5a);
		sendto(fd, ans, len, 0, (struct sockaddr *)&from, fromlen);
		wr16(ans, f->last_id);
		/* ...and the right ID with another question. */
		q2len = dns_query(q2, f->last_id, "evil.test",
		    dns_qtype(q, (size_t)r));
		len = dns_reply(ans, q2, q2len, 0, 0, &evil, 1);
		sendto(fd, ans, len, 0, (struct sockaddr *)&from, fromlen);
		len = fake_answer(f, q, (size_t)r, 0, ans);
		fake_hold(f, ans, len, &from, fromlen);
		break;
	case FAKE_DELAY:
		fake_hold(f, ans, len, &from, fromlen);
		break;
	default:
		sendto(fd, ans, len, 0, (struct sockaddr *)&from, fromlen);
		break;
	}
}

static void
fake_conn_close(struct fake *f, struct bufferevent *bev)
{
	int i;

	for (i = 0; i < FAKE_MAXCONN; i++)
		if (f->conns[i] == bev)
			f->conns[i] = NULL;
	bufferevent_free(bev);
}

static void
fake_tcp_read(struct bufferevent *bev, void *arg)
{
	struct fake *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2], q[512], ans[4096];
	size_t mlen, len;

	while (evbuffer_copyout(in, hdr, 2) == 2) {
		mlen = rd16(hdr);
		if (evbuffer_get_length(in) < 2 + mlen)
			return;
		if (mlen > sizeof(q)) {
			fake_conn_close(f, bev);
			return;
		}
		evbuffer_drain(in, 2);
		evbuffer_remove(in, q, mlen);
		f->ntcp++;
		fake_note(f, q, mlen);
		if (f->mode == FAKE_SILENT)
			continue;
		if ((len = fake_answer(f, q, mlen, 1, ans)) == 0)
			continue;
		wr16(hdr, (uint16_t)len);
		bufferevent_write(bev, hdr, 2);
		bufferevent_write(bev, ans, len);
	}
}

static void
fake_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		fake_conn_close(arg, bev);
}

static void
fake_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	struct bufferevent *bev;
	int s, i;

	(void)what;
	if ((s = accept(fd, NULL, NULL)) == -1)
		return;
	evutil_make_socket_nonblocking(s);
	for (i = 0; i < FAKE_MAXCONN && f->conns[i] != NULL; i++)
		;
	if (i == FAKE_MAXCONN ||
	    (bev = bufferevent_socket_new(base, s, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL) {
		close(s);
		return;
	}
	f->conns[i] = bev;
	bufferevent_setcb(bev, fake_tcp_read, NULL, fake_tcp_event, f);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static struct fake *
fake_new(enum fake_mode mode, int rcode)
{
	struct fake *f;
	struct sockaddr_in sin;
	socklen_t len;
	int try, on = 1;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		abort();
	f->mode = mode;
	f->rcode = rcode;
	/* UDP on a free port, then TCP on the same one (retry if taken). */
	for (try = 0; try < 20; try++) {
		f->udp = socket(AF_INET, SOCK_DGRAM, 0);
		f->tcp = socket(AF_INET, SOCK_STREAM, 0);
		if (f->udp == -1 || f->tcp == -1)
			abort();
		setsockopt(f->tcp, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(sin);
		if (bind(f->udp, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(f->udp, (struct sockaddr *)&sin, &len) == 0 &&
		    bind(f->tcp, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(f->tcp, 8) == 0)
			break;
		close(f->udp);
		close(f->tcp);
		f->udp = f->tcp = -1;
	}
	if (f->udp == -1)
		abort();
	f->port = ntohs(sin.sin_port);
	evutil_make_socket_nonblocking(f->udp);
	evutil_make_socket_nonblocking(f->tcp);
	f->udp_ev = event_new(base, f->udp, EV_READ | EV_PERSIST, fake_udp_cb,
	    f);
	f->tcp_ev = event_new(base, f->tcp, EV_READ | EV_PERSIST,
	    fake_accept_cb, f);
	f->delay_ev = evtimer_new(base, fake_delay_cb, f);
	if (f->udp_ev == NULL || f->tcp_ev == NULL || f->delay_ev == NULL)
		abort();
	event_add(f->udp_ev, NULL);
	event_add(f->tcp_ev, NULL);
	return f;
}

static void
fake_free(struct fake *f)
{
	int i;

	for (i = 0; i < FAKE_MAXCONN; i++)
		if (f->conns[i] != NULL)
			bufferevent_free(f->conns[i]);
	event_free(f->udp_ev);
	event_free(f->tcp_ev);
	event_free(f->delay_ev);
	close(f->udp);
	close(f->tcp);
	free(f);
}

static struct addr
fake_addr(const struct fake *f)
{
	struct addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	memset(&a, 0, sizeof(a));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(f->port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof(*sin);
	return a;
}

/* --- driving the loop ------------------------------------------------ */

static void
expire_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Run until *flag is set or max_ms passed; returns *flag. */
static int
run_until(const int *flag, unsigned max_ms)
{
	struct timeval tv = { max_ms / 1000, (max_ms % 1000) * 1000 };
	struct event *t;
	int expired = 0;

	if ((t = evtimer_new(base, expire_cb, &expired)) == NULL)
		abort();
	evtimer_add(t, &tv);
	while (!*flag && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return *flag;
}

static void
run_for(unsigned ms)
{
	static const int never = 0;

	run_until(&never, ms);
}

/* --- callbacks under test -------------------------------------------- */

struct answer {
	int		 calls;
	int		 in_call;	/* set around plain_forward() */
	int		 sync;		/* called from inside */
	int		 status;
	uint8_t		 ans[4096];
	size_t		 len;
	struct plain	*free_me;	/* plain_free() from the callback */
};

static void
answer_cb(int status, const uint8_t *ans, size_t len, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	if (a->in_call)
		a->sync = 1;
	a->status = status;
	a->len = 0;
	if (status == 0 && len <= sizeof(a->ans)) {
		memcpy(a->ans, ans, len);
		a->len = len;
	}
	if (a->free_me != NULL) {
		plain_free(a->free_me);
		a->free_me = NULL;
	}
}

struct addrs {
	int			 calls;
	int			 in_call;
	int			 sync;
	int			 status;
	struct addr		 addrs[ADDR_MAX_PER_NAME];
	size_t			 n;
	unsigned		 ttl;
};

static void
addr_cb(int status, const struct addr *addrs, size_t n, unsigned ttl,
    void *arg)
{
	struct addrs *a = arg;
	size_t i;

	a->calls++;
	if (a->in_call)
		a->sync = 1;
	a->status = status;
	a->n = n;
	a->ttl = ttl;
	for (i = 0; i < n && i < ADDR_MAX_PER_NAME; i++)
		a->addrs[i] = addrs[i];
}

static struct plain_req *
forward(struct plain *p, const uint8_t *q, size_t len, struct answer *a)
{
	struct plain_req *req;

	a->in_call = 1;
	req = plain_forward(p, q, len, answer_cb, a);
	a->in_call = 0;
	return req;
}

static struct plain_req *
resolve(struct plain *p, const char *host, uint16_t port, struct addrs *a)
{
	struct plain_req *req;

	a->in_call = 1;
	req = plain_resolve(p, host, port, addr_cb, a);
	a->in_call = 0;
	return req;
}

/* --- tests ----------------------------------------------------------- */

static void
test_forward(void)
{
	struct fake *f = fake_new(FAKE_ANSWER, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_FALLBACK);
	struct answer a, b;
	uint8_t q[512], q2[512];
	size_t qlen, q2len;
	char name[256], ip[INET_ADDRSTRLEN];
	int i, changed = 0;

	CHECK(p != NULL);
	CHECK_EQ(plain_sent(p), 0);
	qlen = dns_query(q, 0xbeef, "www.example", T_A);
	for (i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		CHECK(forward(p, q, qlen, &a) != NULL);
		CHECK_EQ(a.calls, 0);
		CHECK(run_until(&a.calls, 3000));
		CHECK_EQ(a.calls, 1);
		CHECK_EQ(a.sync, 0);
		CHECK_EQ(a.status, 0);
		/* On the wire: our question under c-ares's own ID. */
		CHECK_STR(f->last_name, "www.example");
		CHECK_EQ(f->last_qtype, T_A);
		if (f->last_id != 0xbeef)
			changed++;
		/* The answer carries that ID and our question. */
		CHECK(a.len > 12);
		CHECK_EQ(rd16(a.ans), f->last_id);
		CHECK_STR(dns_qname(a.ans, a.len, name), "www.example");
		CHECK_EQ(dns_qtype(a.ans, a.len), T_A);
		CHECK_EQ(a.ans[3] & 0x0f, 0);
		CHECK_STR(dns_first_a(a.ans, a.len, ip), "192.0.2.1");
	}
	/* A random ID equals ours three times in 2^-48 runs. */
	CHECK(changed > 0);
	CHECK_EQ(f->nudp, 3);
	CHECK_EQ(f->ntcp, 0);
	CHECK_EQ(plain_sent(p), 3);
	CHECK_EQ(plain_wire_sent(p), 3);

	/* Two clients in flight with the same ID each get their answer. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK(forward(p, q, qlen, &a) != NULL);
	q2len = dns_query(q2, 0xbeef, "other.example", T_A);
	CHECK(forward(p, q2, q2len, &b) != NULL);
	CHECK(run_until(&a.calls, 3000));
	CHECK(run_until(&b.calls, 3000));
	CHECK_EQ(a.status, 0);
	CHECK_EQ(b.status, 0);
	CHECK_STR(dns_qname(a.ans, a.len, name), "www.example");
	CHECK_STR(dns_qname(b.ans, b.len, name), "other.example");
	CHECK(rd16(a.ans) != rd16(b.ans));
	CHECK_EQ(plain_sent(p), 5);
	CHECK_EQ(plain_wire_sent(p), 5);
	plain_free(p);
	fake_free(f);
}

/* SERVFAIL, NXDOMAIN and REFUSED reach the caller; no second server. */
static void
test_rcode_passthrough(void)
{
	static const int rcodes[] = { 2, 3, 5 };
	struct fake *f1 = fake_new(FAKE_ANSWER, 0);
	struct fake *f2 = fake_new(FAKE_ANSWER, 0);
	struct addr sa[2] = { fake_addr(f1), fake_addr(f2) };
	struct plain *p = plain_new(base, sa, 2, 1000, PLAIN_ROLE_FALLBACK);
	struct answer a;
	uint8_t q[512];
	size_t qlen, i;
	char name[256];

	CHECK(p != NULL);
	qlen = dns_query(q, 0x1234, "fail.example", T_A);
	for (i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		f1->rcode = rcodes[i];
		memset(&a, 0, sizeof(a));
		CHECK(forward(p, q, qlen, &a) != NULL);
		CHECK(run_until(&a.calls, 3000));
		CHECK_EQ(a.status, 0);
		CHECK_EQ(a.ans[3] & 0x0f, rcodes[i]);
		CHECK_STR(dns_qname(a.ans, a.len, name), "fail.example");
		CHECK_EQ(f1->nudp, (int)i + 1);
		CHECK_EQ(f2->nudp, 0);
	}
	/* Nothing else went to the second server later either. */
	run_for(100);
	CHECK_EQ(f2->nudp + f2->ntcp, 0);
	plain_free(p);
	fake_free(f1);
	fake_free(f2);
}

static void
test_tc_retry(void)
{
	struct fake *f = fake_new(FAKE_TC, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_FALLBACK);
	struct answer a;
	uint8_t q[512], full[4096];
	size_t qlen, flen;
	char ip[INET_ADDRSTRLEN];

	CHECK(p != NULL);
	qlen = dns_query(q, 0x4242, "big.example", T_A);
	memset(&a, 0, sizeof(a));
	CHECK(forward(p, q, qlen, &a) != NULL);
	CHECK(run_until(&a.calls, 3000));
	CHECK_EQ(a.status, 0);
	CHECK_EQ(f->nudp, 1);
	CHECK_EQ(f->ntcp, 1);
	/* What left: the datagram and the TCP message. */
	CHECK_EQ(plain_wire_sent(p), 2);
	/* The whole TCP answer, not the truncated UDP one. */
	CHECK_EQ(a.ans[2] & 0x02, 0);
	CHECK_EQ(rd16(a.ans + 6), TC_RECORDS);
	wr16(q, rd16(a.ans));
	flen = fake_answer(f, q, qlen, 1, full);
	CHECK_EQ(a.len, flen);
	CHECK(a.len == flen && memcmp(a.ans, full, flen) == 0);
	CHECK(a.len > 512);
	CHECK_STR(dns_first_a(a.ans, a.len, ip), "10.0.0.0");
	plain_free(p);
	fake_free(f);
}

static void
test_bogus_ignored(void)
{
	struct fake *f = fake_new(FAKE_BOGUS, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 2000, PLAIN_ROLE_FALLBACK);
	struct answer a;
	uint8_t q[512];
	size_t qlen;
	char name[256], ip[INET_ADDRSTRLEN];

	CHECK(p != NULL);
	qlen = dns_query(q, 0x7777, "real.example", T_A);
	memset(&a, 0, sizeof(a));
	f->watch = &a.calls;
	f->watch_at_send = -1;
	CHECK(forward(p, q, qlen, &a) != NULL);
	CHECK(run_until(&a.calls, 3000));
	/* Neither bogus answer ended the query before the real one came. */
	CHECK_EQ(f->delayed_sent, 1);
	CHECK_EQ(f->watch_at_send, 0);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(rd16(a.ans), f->last_id);
	CHECK_STR(dns_qname(a.ans, a.len, name), "real.example");
	CHECK_STR(dns_first_a(a.ans, a.len, ip), "192.0.2.1");
	plain_free(p);
	fake_free(f);
}

static void
test_timeout(void)
{
	struct fake *f = fake_new(FAKE_SILENT, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 200, PLAIN_ROLE_FALLBACK);
	struct answer a;
	uint8_t q[512];
	size_t qlen;
	uint64_t t0, elapsed;

	CHECK(p != NULL);
	qlen = dns_query(q, 1, "silent.example", T_A);
	memset(&a, 0, sizeof(a));
	t0 = clock_ms();
	CHECK(forward(p, q, qlen, &a) != NULL);
	CHECK(run_until(&a.calls, 3000));
	elapsed = clock_ms() - t0;
	CHECK_EQ(a.status, -1);
	CHECK_EQ(a.len, 0);
	CHECK(elapsed >= 180);
	CHECK(elapsed < 1500);
	CHECK_EQ(f->nudp, 1);
	CHECK_EQ(plain_wire_sent(p), 1);
	plain_free(p);

	/* Discovery tries twice: both datagrams counted, A and AAAA each. */
	p = plain_new(base, &sa, 1, 100, PLAIN_ROLE_DISCOVERY);
	CHECK(p != NULL);
	memset(&a, 0, sizeof(a));
	CHECK(forward(p, q, qlen, &a) != NULL);
	CHECK(run_until(&a.calls, 3000));
	CHECK_EQ(a.status, -1);
	CHECK_EQ(f->nudp, 3);
	CHECK_EQ(plain_sent(p), 1);
	CHECK_EQ(plain_wire_sent(p), 2);
	{
		struct addrs ad;

		memset(&ad, 0, sizeof(ad));
		CHECK(resolve(p, "silent.example", 443, &ad) != NULL);
		CHECK(run_until(&ad.calls, 3000));
		CHECK_EQ(ad.status, -1);
		CHECK_EQ(f->nudp, 7);
		CHECK_EQ(plain_wire_sent(p), 6);
	}
	plain_free(p);
	fake_free(f);
}

static void
test_failover(void)
{
	struct fake *f1 = fake_new(FAKE_SILENT, 0);
	struct fake *f2 = fake_new(FAKE_ANSWER, 0);
	struct addr sa[2] = { fake_addr(f1), fake_addr(f2) };
	struct plain *p = plain_new(base, sa, 2, 200, PLAIN_ROLE_FALLBACK);
	struct answer a;
	uint8_t q[512];
	size_t qlen;
	uint64_t t0, elapsed;
	char ip[INET_ADDRSTRLEN];

	CHECK(p != NULL);
	qlen = dns_query(q, 2, "second.example", T_A);
	memset(&a, 0, sizeof(a));
	t0 = clock_ms();
	CHECK(forward(p, q, qlen, &a) != NULL);
	CHECK(run_until(&a.calls, 3000));
	elapsed = clock_ms() - t0;
	CHECK_EQ(a.status, 0);
	CHECK_STR(dns_first_a(a.ans, a.len, ip), "192.0.2.1");
	CHECK_EQ(f1->nudp, 1);
	CHECK_EQ(f2->nudp, 1);
	CHECK_EQ(plain_wire_sent(p), 2);
	CHECK(elapsed >= 180);
	plain_free(p);
	fake_free(f1);
	fake_free(f2);
}

static void
test_cancel(void)
{
	struct fake *f = fake_new(FAKE_DELAY, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_FALLBACK);
	struct plain_req *req;
	struct answer a, b;
	struct addrs ad;
	uint8_t q[512];
	size_t qlen;

	CHECK(p != NULL);
	qlen = dns_query(q, 3, "cancel.example", T_A);
	memset(&a, 0, sizeof(a));
	CHECK((req = forward(p, q, qlen, &a)) != NULL);
	plain_cancel(req);
	run_for(200);
	CHECK_EQ(f->nudp, 1);
	CHECK_EQ(f->delayed_sent, 1);
	CHECK_EQ(a.calls, 0);

	/* A result c-ares gave at once (IP literal), cancelled before use. */
	memset(&ad, 0, sizeof(ad));
	CHECK((req = resolve(p, "192.0.2.7", 853, &ad)) != NULL);
	plain_cancel(req);
	run_for(50);
	CHECK_EQ(ad.calls, 0);

	/* A bad query fails inside c-ares; we still call back later. */
	memset(&b, 0, sizeof(b));
	CHECK(forward(p, q, 5, &b) != NULL);
	CHECK_EQ(b.calls, 0);
	CHECK(run_until(&b.calls, 1000));
	CHECK_EQ(b.sync, 0);
	CHECK_EQ(b.status, -1);
	plain_free(p);
	fake_free(f);
}

static void
test_free_pending(void)
{
	struct fake *f = fake_new(FAKE_SILENT, 0);
	struct fake *g = fake_new(FAKE_ANSWER, 0);
	struct addr sa = fake_addr(f), sg = fake_addr(g);
	struct plain *p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_BOOTSTRAP);
	struct answer a[3];
	struct addrs ad[2];
	uint8_t q[512];
	size_t qlen;

	CHECK(p != NULL);
	memset(a, 0, sizeof(a));
	memset(ad, 0, sizeof(ad));
	qlen = dns_query(q, 4, "pending.example", T_A);
	CHECK(forward(p, q, qlen, &a[0]) != NULL);
	plain_cancel(forward(p, q, qlen, &a[1]));
	CHECK(resolve(p, "pending.example", 443, &ad[0]) != NULL);
	run_for(20);
	CHECK_EQ(f->nudp, 4);
	/* One result ready but not yet delivered. */
	CHECK(resolve(p, "192.0.2.8", 443, &ad[1]) != NULL);
	plain_free(p);
	run_for(100);
	CHECK_EQ(a[0].calls + a[1].calls + ad[0].calls + ad[1].calls, 0);

	/* plain_free() from inside a callback, with another query due. */
	p = plain_new(base, &sg, 1, 1000, PLAIN_ROLE_FALLBACK);
	CHECK(p != NULL);
	memset(a, 0, sizeof(a));
	a[0].free_me = p;
	a[1].free_me = p;
	CHECK(forward(p, q, qlen, &a[0]) != NULL);
	CHECK(forward(p, q, qlen, &a[1]) != NULL);
	run_for(200);
	CHECK_EQ(a[0].calls + a[1].calls, 1);
	CHECK_EQ(g->nudp, 2);
	fake_free(f);
	fake_free(g);
}

static void
test_resolve(void)
{
	struct fake *f = fake_new(FAKE_ZONE, 0);
	struct addr sa = fake_addr(f);
	struct plain *p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_BOOTSTRAP);
	struct addrs ad;
	char buf[64];
	size_t i;
	int v4 = 0, v6 = 0, a10 = 0, a11 = 0, a6 = 0;

	CHECK(p != NULL);
	memset(&ad, 0, sizeof(ad));
	CHECK(resolve(p, "multi.test", 8443, &ad) != NULL);
	CHECK_EQ(ad.calls, 0);
	CHECK(run_until(&ad.calls, 3000));
	CHECK_EQ(ad.sync, 0);
	CHECK_EQ(ad.status, 0);
	CHECK_EQ(ad.n, 3);
	CHECK_EQ(ad.ttl, 100);
	for (i = 0; i < ad.n; i++) {
		addr_str(&ad.addrs[i], buf, sizeof(buf));
		v4 += ad.addrs[i].ss.ss_family == AF_INET;
		v6 += ad.addrs[i].ss.ss_family == AF_INET6;
		a10 += strcmp(buf, "192.0.2.10:8443") == 0;
		a11 += strcmp(buf, "192.0.2.11:8443") == 0;
		a6 += strcmp(buf, "[2001:db8::1]:8443") == 0;
	}
	CHECK_EQ(v4, 2);
	CHECK_EQ(v6, 1);
	CHECK_EQ(a10 + a11 + a6, 3);
	CHECK(a10 == 1 && a11 == 1 && a6 == 1);
	/* One A and one AAAA query went out. */
	CHECK_EQ(f->nudp, 2);
	CHECK_EQ(plain_sent(p), 1);
	CHECK_EQ(plain_wire_sent(p), 2);	/* what left: both */

	memset(&ad, 0, sizeof(ad));
	CHECK(resolve(p, "missing.test", 443, &ad) != NULL);
	CHECK(run_until(&ad.calls, 3000));
	CHECK_EQ(ad.status, -1);
	CHECK_EQ(ad.n, 0);
	CHECK_EQ(plain_sent(p), 2);
	CHECK_EQ(plain_wire_sent(p), (uint64_t)f->nudp);

	/* An IP literal needs no query, and still calls back later. */
	memset(&ad, 0, sizeof(ad));
	f->nudp = 0;
	CHECK(resolve(p, "192.0.2.9", 53, &ad) != NULL);
	CHECK_EQ(ad.calls, 0);
	CHECK(run_until(&ad.calls, 1000));
	CHECK_EQ(ad.sync, 0);
	CHECK_EQ(ad.status, 0);
	CHECK_EQ(ad.n, 1);
	CHECK_STR(addr_str(&ad.addrs[0], buf, sizeof(buf)), "192.0.2.9:53");
	CHECK_EQ(f->nudp, 0);

	CHECK(resolve(p, "", 53, &ad) == NULL);
	plain_free(p);
	fake_free(f);
}

static void
test_new_bad(void)
{
	struct addr sa;
	struct plain *p;

	memset(&sa, 0, sizeof(sa));
	CHECK(plain_new(base, &sa, 0, 1000, PLAIN_ROLE_FALLBACK) == NULL);
	/* A role is one of the three: it decides the tries. */
	sa.ss.ss_family = AF_INET;
	CHECK(plain_new(base, &sa, 1, 1000, PLAIN_ROLE_MAX) == NULL);
	CHECK((p = plain_new(base, &sa, 1, 1000, PLAIN_ROLE_FORWARD)) != NULL);
	plain_free(p);
	sa.ss.ss_family = AF_UNIX;
	CHECK(plain_new(base, &sa, 1, 1000, PLAIN_ROLE_FALLBACK) == NULL);
	plain_free(NULL);
	plain_cancel(NULL);
}

int
main(void)
{
	if ((base = event_base_new()) == NULL)
		return 1;
	test_forward();
	test_rcode_passthrough();
	test_tc_retry();
	test_bogus_ignored();
	test_timeout();
	test_failover();
	test_cancel();
	test_free_pending();
	test_resolve();
	test_new_bad();
	event_base_free(base);
	return check_summary();
}
