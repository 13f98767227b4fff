/*
 * The floor for the bench: a UDP "DNS server" that answers each query
 * with itself, QR set, and does nothing else.  One wake-up and two
 * system calls per query (recvmmsg, sendmmsg), as cheap as answering a
 * datagram gets; a forwarder pays at least two wake-ups per query (the
 * client's query, the upstream's answer).  Built by bench/run.
 * Usage: udpecho PORT
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH	16
#define SLOT	4096

int
main(int argc, char *argv[])
{
	static unsigned char buf[BATCH][SLOT];
	struct sockaddr_in sin;
	struct sockaddr_storage ss[BATCH];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct epoll_event ev, out;
	int fd, ep, i, n;

	if (argc != 2)
		return 2;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    (ep = epoll_create1(0)) == -1) {
		perror("udpecho");
		return 1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		perror("udpecho: epoll_ctl");
		return 1;
	}
	for (;;) {
		if (epoll_wait(ep, &out, 1, -1) < 1)
			continue;
		for (i = 0; i < BATCH; i++) {
			memset(&m[i], 0, sizeof(m[i]));
			iov[i].iov_base = buf[i];
			iov[i].iov_len = SLOT;
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &ss[i];
			m[i].msg_hdr.msg_namelen = sizeof(ss[i]);
		}
		if ((n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL)) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (m[i].msg_len >= 3)
				buf[i][2] |= 0x80;	/* QR */
			iov[i].iov_len = m[i].msg_len;
		}
		(void)sendmmsg(fd, m, (unsigned)n, 0);
	}
}
