/*
 * Reference: a single-threaded TCP echo server on liburing, the C counterpart of the
 * `runtime` server of the echo benchmark. The bench builds and runs it on its own when a C
 * compiler and liburing's headers are present (and skips it with a note when not):
 *
 *   apt-get install liburing-dev
 *   cc -O2 -o target/echo/echo_liburing benches/c/echo_liburing.c -luring
 *   target/echo/echo_liburing --port 0 --cpu 0 < (a socket; its end of file stops it)
 *
 * Design, as plain as liburing allows:
 * - one ring, SINGLE_ISSUER | DEFER_TASKRUN (a plain ring when the kernel says EINVAL),
 *   registered ring fd; one io_uring_submit_and_wait(ring, 1) per loop turn, then every
 *   CQE drained with io_uring_for_each_cqe and one io_uring_cq_advance;
 * - multishot accept on the listener; TCP_NODELAY on each connection;
 * - multishot recv on a provided-buffer ring (--pool-bufs buffers of --read-buf bytes,
 *   default 1024 x 16 KiB); each received buffer stays out of the ring until it has been
 *   sent back with a plain send (the rest resent after a partial send), then goes back;
 *   one send in flight per connection, later buffers queue behind it (order is kept);
 * - a recv that ends (no IORING_CQE_F_MORE) is re-armed; after ENOBUFS once buffers came
 *   back; end of file or an error closes the connection once its sends are done;
 * - a poll on fd 0 (the parent's control socket): at its end of file the server prints
 *   `METRICS core=0 enters=...` and exits.
 *
 * Protocol of the bench's servers: `--port P --cpu C [--cores 1] [--read-buf B]
 * [--pool-bufs N]`, prints `READY <port>` once listening on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQ_ENTRIES 256
#define CQ_ENTRIES 4096
#define BACKLOG 4096
#define BGID 0
#define NONE (-1)

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CONTROL };

static inline uint64_t ud(unsigned op, unsigned bid, int fd)
{
	return (uint64_t)op << 56 | (uint64_t)bid << 32 | (uint32_t)fd;
}

/* A connection, indexed by fd. */
struct conn {
	int32_t head, tail; /* queued buffers (head is being sent when sending) */
	uint8_t open, recv_armed, sending, closing, starved;
};

/* A buffer out of the ring: received bytes and how many were sent back. */
struct held {
	uint32_t len, off;
	int32_t next;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;
static unsigned nbufs, buf_size;
static int br_mask;
static unsigned returned; /* buffers added to the ring since its last advance */
static struct conn *conns;
static size_t max_fds;
static struct held *held;
static int *starved;
static size_t nstarved;
static int listen_fd;

static struct {
	unsigned long enters, sqes, cqes, loop_turns, sq_full, accepts, recvs, sends,
		partial_sends, recv_rearms, enobufs, closes;
} m;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_liburing: %s: %s\n", what, strerror(err));
	exit(1);
}

static void flush_bufs(void)
{
	if (returned) {
		io_uring_buf_ring_advance(br, returned);
		returned = 0;
	}
}

static void submit(void)
{
	flush_bufs();
	int ret = io_uring_submit(&ring);
	m.enters++;
	if (ret < 0)
		die("io_uring_submit", -ret);
	m.sqes += ret;
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	while (!sqe) {
		m.sq_full++;
		submit();
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

static void give_back(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * buf_size, buf_size, bid, br_mask,
			      returned++);
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, 0, listen_fd));
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(OP_RECV, 0, fd));
	conns[fd].recv_armed = 1;
}

static void arm_control(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_poll_add(sqe, 0, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data64(sqe, ud(OP_CONTROL, 0, 0));
}

static void send_head(int fd)
{
	struct conn *c = &conns[fd];
	unsigned bid = (unsigned)c->head;
	struct held *h = &held[bid];
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_send(sqe, fd, bufs + (size_t)bid * buf_size + h->off, h->len - h->off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(OP_SEND, bid, fd));
	c->sending = 1;
	m.sends++;
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	if (c->closing && !c->recv_armed && !c->sending && c->head == NONE) {
		close(fd);
		memset(c, 0, sizeof(*c));
		m.closes++;
	}
}

/* Drops every queued buffer (a failed send) and stops the recv side. */
static void fail_conn(int fd)
{
	struct conn *c = &conns[fd];
	for (int32_t b = c->head; b != NONE; b = held[b].next)
		give_back((unsigned)b);
	c->head = c->tail = NONE;
	c->sending = 0;
	if (!c->closing) {
		c->closing = 1;
		/* Ends the armed multishot recv (it completes with 0). */
		shutdown(fd, SHUT_RDWR);
	}
	maybe_close(fd);
}

static void on_accept(struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept();
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED)
			fprintf(stderr, "echo_liburing: accept: %s\n", strerror(-cqe->res));
		return;
	}
	int fd = cqe->res;
	if ((size_t)fd >= max_fds) {
		close(fd);
		return;
	}
	m.accepts++;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct conn *c = &conns[fd];
	memset(c, 0, sizeof(*c));
	c->open = 1;
	c->head = c->tail = NONE;
	arm_recv(fd);
}

static void on_recv(struct io_uring_cqe *cqe, int fd)
{
	struct conn *c = &conns[fd];
	int res = cqe->res;
	int more = cqe->flags & IORING_CQE_F_MORE;
	if (!more)
		c->recv_armed = 0;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (res > 0 && !c->closing) {
			m.recvs++;
			held[bid] = (struct held){.len = (uint32_t)res, .off = 0, .next = NONE};
			if (c->head == NONE)
				c->head = (int32_t)bid;
			else
				held[c->tail].next = (int32_t)bid;
			c->tail = (int32_t)bid;
			if (!c->sending)
				send_head(fd);
		} else {
			give_back(bid);
		}
	}
	if (more)
		return;
	if (res == -ENOBUFS && !c->closing) {
		m.enobufs++;
		c->starved = 1;
		starved[nstarved++] = fd;
	} else if (res > 0 && !c->closing) {
		m.recv_rearms++;
		arm_recv(fd);
	} else {
		/* End of file, an error, or a connection already failing. */
		c->closing = 1;
		maybe_close(fd);
	}
}

static void on_send(struct io_uring_cqe *cqe, int fd, unsigned bid)
{
	struct conn *c = &conns[fd];
	struct held *h = &held[bid];
	c->sending = 0;
	if (cqe->res <= 0) {
		fail_conn(fd);
		return;
	}
	h->off += (uint32_t)cqe->res;
	if (h->off < h->len) {
		m.partial_sends++;
		send_head(fd);
		return;
	}
	c->head = h->next;
	if (c->head == NONE)
		c->tail = NONE;
	give_back(bid);
	if (c->head != NONE)
		send_head(fd);
	else
		maybe_close(fd);
}

/* After buffers came back: re-arms the recvs that ended with ENOBUFS. */
static void rearm_starved(void)
{
	size_t n = nstarved;
	nstarved = 0;
	for (size_t i = 0; i < n; i++) {
		int fd = starved[i];
		struct conn *c = &conns[fd];
		if (!c->starved)
			continue; /* closed (and maybe reused) meanwhile */
		c->starved = 0;
		m.recv_rearms++;
		arm_recv(fd);
	}
}

static int on_control(struct io_uring_cqe *cqe)
{
	if (cqe->res < 0 && cqe->res != -EINTR)
		return 1;
	char b;
	if (cqe->res & (POLLRDHUP | POLLHUP | POLLERR) || read(0, &b, 1) <= 0)
		return 1;
	arm_control();
	return 0;
}

static void setup_ring(void)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	int ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	if (ret == -EINVAL) {
		fprintf(stderr, "echo_liburing: no SINGLE_ISSUER|DEFER_TASKRUN; a plain ring\n");
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
	}
	if (ret < 0)
		die("io_uring_queue_init_params", -ret);
	io_uring_register_ring_fd(&ring); /* cheaper enters when it works, as ours */

	size_t ring_bytes = (size_t)nbufs * sizeof(struct io_uring_buf);
	br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (br == MAP_FAILED)
		die("mmap", errno);
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)br;
	reg.ring_entries = nbufs;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret < 0)
		die("io_uring_register_buf_ring", -ret);
	io_uring_buf_ring_init(br);
	br_mask = io_uring_buf_ring_mask(nbufs);
	if (posix_memalign((void **)&bufs, 4096, (size_t)nbufs * buf_size))
		die("posix_memalign", ENOMEM);
	for (unsigned i = 0; i < nbufs; i++)
		give_back(i);
	flush_bufs();
	held = calloc(nbufs, sizeof(*held));
	if (!held)
		die("calloc", ENOMEM);
}

static int listen_on(int port, int *bound)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		die("socket", errno);
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR", errno);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("bind", errno);
	if (listen(fd, BACKLOG))
		die("listen", errno);
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len))
		die("getsockname", errno);
	*bound = ntohs(a.sin_port);
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: echo_liburing --port P --cpu C [--cores 1] [--read-buf BYTES] "
			"[--pool-bufs N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 0, cpu = 0;
	long read_buf = 16 * 1024, pool_bufs = 1024;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		const char *f = argv[i], *v = argv[++i];
		if (!strcmp(f, "--port"))
			port = atoi(v);
		else if (!strcmp(f, "--cpu"))
			cpu = atoi(v);
		else if (!strcmp(f, "--read-buf"))
			read_buf = atol(v);
		else if (!strcmp(f, "--pool-bufs"))
			pool_bufs = atol(v);
		else if (!strcmp(f, "--cores")) {
			if (atoi(v) > 1) {
				fprintf(stderr, "echo_liburing: one core only (--cores %s)\n", v);
				return 2;
			}
		} else
			usage();
	}
	if (read_buf < 1 || pool_bufs < 1 || pool_bufs > 32768 || (pool_bufs & (pool_bufs - 1)))
		usage();
	buf_size = (unsigned)read_buf;
	nbufs = (unsigned)pool_bufs;

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit", errno);
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit", errno);
	}
	max_fds = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 20) ? (1 << 20)
									   : rl.rlim_cur;
	conns = calloc(max_fds, sizeof(*conns));
	starved = calloc(max_fds, sizeof(*starved));
	if (!conns || !starved)
		die("calloc", ENOMEM);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("could not pin to the CPU", errno);
	signal(SIGPIPE, SIG_IGN);

	setup_ring();
	int bound;
	listen_fd = listen_on(port, &bound);
	arm_accept();
	arm_control();
	printf("READY %d\n", bound);
	fflush(stdout);

	int stop = 0;
	while (!stop) {
		if (returned) {
			flush_bufs();
			if (nstarved)
				rearm_starved();
		}
		int ret = io_uring_submit_and_wait(&ring, 1);
		m.enters++;
		if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EBUSY)
			die("io_uring_submit_and_wait", -ret);
		if (ret > 0)
			m.sqes += ret;
		m.loop_turns++;
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			n++;
			uint64_t u = io_uring_cqe_get_data64(cqe);
			int fd = (int)(uint32_t)u;
			unsigned bid = (unsigned)(u >> 32) & 0xffff;
			switch (u >> 56) {
			case OP_ACCEPT:
				on_accept(cqe);
				break;
			case OP_RECV:
				on_recv(cqe, fd);
				break;
			case OP_SEND:
				on_send(cqe, fd, bid);
				break;
			case OP_CONTROL:
				stop |= on_control(cqe);
				break;
			}
		}
		io_uring_cq_advance(&ring, n);
		m.cqes += n;
	}
	printf("METRICS core=0 enters=%lu sqes=%lu cqes=%lu loop_turns=%lu cq_overflows=%u "
	       "sq_full=%lu accepts=%lu recvs=%lu sends=%lu partial_sends=%lu recv_rearms=%lu "
	       "enobufs=%lu closes=%lu\n",
	       m.enters, m.sqes, m.cqes, m.loop_turns, *ring.cq.koverflow, m.sq_full, m.accepts,
	       m.recvs, m.sends, m.partial_sends, m.recv_rearms, m.enobufs, m.closes);
	fflush(stdout);
	/* Skip tearing down thousands of connections: the parent is done with us. */
	_exit(0);
}
