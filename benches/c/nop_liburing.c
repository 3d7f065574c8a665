/*
 * Reference: NOP round trips per second through liburing, the same method as
 * benches/src/bin/nop.rs (reference only, not built by cargo).
 *
 * For each batch size (1, 8, 32, 128 SQEs per io_uring_enter): push a batch of NOPs,
 * io_uring_submit_and_wait(batch), reap every CQE; repeat for a fixed number of ops.
 * Prints the median, min and max of several runs, and enter calls per batch (the
 * submit calls made; liburing enters once per io_uring_submit_and_wait here).
 * Ring: SINGLE_ISSUER | DEFER_TASKRUN (fallback to plain flags), registered ring fd,
 * like ours.
 *
 *   apt-get install liburing-dev
 *   gcc -O2 -o /tmp/nop_c benches/c/nop_liburing.c -luring
 *   /tmp/nop_c [--runs N] [--ops N]
 */
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned BATCHES[] = {1, 8, 32, 128};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One run: iters batches of batch NOPs. Returns seconds; adds enter calls to *enters. */
static double run(struct io_uring *ring, unsigned batch, unsigned long iters,
		  unsigned long *enters)
{
	volatile int sink = 0;
	double start = now();

	for (unsigned long it = 0; it < iters; it++) {
		for (unsigned i = 0; i < batch; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			if (!sqe) {
				fprintf(stderr, "SQ full\n");
				exit(1);
			}
			io_uring_prep_nop(sqe);
			sqe->user_data = i;
		}
		unsigned reaped = 0;
		while (reaped < batch) {
			int ret = io_uring_submit_and_wait(ring, batch - reaped);
			if (ret < 0) {
				fprintf(stderr, "submit_and_wait: %s\n", strerror(-ret));
				exit(1);
			}
			(*enters)++;
			struct io_uring_cqe *cqe;
			unsigned head, n = 0;
			io_uring_for_each_cqe(ring, head, cqe) {
				sink += cqe->res;
				n++;
			}
			io_uring_cq_advance(ring, n);
			reaped += n;
		}
	}
	(void)sink;
	return now() - start;
}

int main(int argc, char **argv)
{
	int runs = 5;
	unsigned long ops = 2000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			ops = strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [--runs N] [--ops N]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	if (ops < 128)
		ops = 128;

	struct io_uring ring;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	const char *mode = "SINGLE_ISSUER|DEFER_TASKRUN";
	int ret = io_uring_queue_init_params(128, &ring, &p);
	if (ret < 0) {
		fprintf(stderr, "falling back to a plain ring: %s\n", strerror(-ret));
		mode = "plain";
		ret = io_uring_queue_init(128, &ring, 0);
		if (ret < 0) {
			fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
			return 1;
		}
	}
	int registered = io_uring_register_ring_fd(&ring) == 1;

	printf("liburing NOP round trips: ring of 128 (%s, registered ring fd: %s), "
	       "%lu ops per run, median of %d runs\n",
	       mode, registered ? "true" : "false", ops, runs);
	printf("%5s  %14s  %14s  %14s  %13s\n", "batch", "ops/s median", "min", "max",
	       "enters/batch");
	double *rates = calloc(runs, sizeof(double));
	for (size_t b = 0; b < sizeof(BATCHES) / sizeof(BATCHES[0]); b++) {
		unsigned batch = BATCHES[b];
		unsigned long iters = ops / batch, enters = 0, warm = 0;
		run(&ring, batch, iters / 10 + 1, &warm);
		for (int r = 0; r < runs; r++) {
			double secs = run(&ring, batch, iters, &enters);
			rates[r] = (double)(iters * batch) / secs;
		}
		qsort(rates, runs, sizeof(double), cmp_double);
		printf("%5u  %14.0f  %14.0f  %14.0f  %13.3f\n", batch, rates[runs / 2], rates[0],
		       rates[runs - 1], (double)enters / (double)(iters * runs));
	}
	free(rates);
	io_uring_queue_exit(&ring);
	return 0;
}
