/*
 * The step round's scheduling alone, without the JVM: N observer processes and one agent on
 * shared memory, every wait a poll that yields the core (sched_yield), as the services' polling
 * event loops wait. "batch" answers a round once all N requests are in (one unit of agent work per
 * round); "nobatch" answers each request as it comes (one unit per request). docs/benchmarks/rl.md
 * ("Batch vs non-batch across processes: where the time goes") gives what it measured.
 *
 *   gcc -O2 -o /tmp/barrier tools/experiments/barrier.c
 *   /tmp/barrier N MODE STEPS OBSERVER_US [AGENT_US]     MODE: batch | nobatch
 *   e.g. for n in 3 7 10; do for m in batch nobatch; do /tmp/barrier $n $m 20000 2; done; done
 *
 * Work is a busy wait on the monotonic clock (wall time: a preempted observer's work ends sooner).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  _Atomic long req;
  char pad1[56];
  _Atomic long rep;
  char pad2[56];
} slot;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile double sink;

static void work(int us) {
  double t = now();
  while ((now() - t) * 1e6 < us) sink += 1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s N batch|nobatch STEPS OBSERVER_US [AGENT_US]\n", argv[0]);
    return 2;
  }
  int n = atoi(argv[1]), batch = strcmp(argv[2], "batch") == 0, steps = atoi(argv[3]);
  int observerUs = atoi(argv[4]), agentUs = argc > 5 ? atoi(argv[5]) : 1;
  if (n < 1 || steps < 1 || (!batch && strcmp(argv[2], "nobatch") != 0)) {
    fprintf(stderr, "N and STEPS must be >= 1, MODE batch or nobatch\n");
    return 2;
  }
  slot *s = mmap(0, sizeof(slot) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  pid_t *observers = calloc(n, sizeof(pid_t));
  if (observers == NULL) {
    perror("calloc");
    return 1;
  }
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork"); /* the agent would wait for this observer for ever: stop those started */
      for (int j = 0; j < i; j++) kill(observers[j], SIGKILL);
      return 1;
    }
    observers[i] = pid;
    if (pid == 0) {
      for (long k = 1; k <= steps; k++) {
        work(observerUs);
        atomic_store(&s[i].req, k);
        while (atomic_load(&s[i].rep) < k) sched_yield();
      }
      _exit(0);
    }
  }
  double t0 = now();
  if (batch) {
    for (long k = 1; k <= steps; k++) {
      for (int i = 0; i < n; i++)
        while (atomic_load(&s[i].req) < k) sched_yield();
      work(agentUs);
      for (int i = 0; i < n; i++) atomic_store(&s[i].rep, k);
    }
  } else {
    long done = 0, *served = calloc(n, sizeof(long));
    while (done < (long) n * steps) {
      int any = 0;
      for (int i = 0; i < n; i++) {
        long r = atomic_load(&s[i].req);
        if (r > served[i]) {
          work(agentUs);
          served[i] = r;
          atomic_store(&s[i].rep, r);
          done++;
          any = 1;
        }
      }
      if (!any) sched_yield();
    }
  }
  double t = now() - t0;
  while (wait(0) > 0) {
  }
  printf("observers=%d %-7s steps=%d observer_work=%dus agent_work=%dus: %.3f s\n", n, batch ? "batch" : "nobatch",
         steps, observerUs, agentUs, t);
  return 0;
}
