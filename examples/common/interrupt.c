/* SIGINT / SIGTERM handling (see interrupt.h). */
#include "interrupt.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "program.h"

enum { TEMP_SLOTS = 16, TEMP_PATH = 4096 };

static volatile sig_atomic_t got_signal;  /* the first signal number, 0 before */
/* Atomic: two signals can be handled at the same time on two threads (the
 * mask of sigaction only blocks the other signal on the handling thread),
 * and each must see its own count. Lock-free, so async-signal-safe. */
static atomic_int n_signals;
static const char *prog_name = "program";
static volatile sig_atomic_t quiet; /* interrupt_set_quiet: no notice */

/* Temporary files of atomic writes in progress. A slot's path is written
 * completely before its `used` flag is set, and the handler reads only
 * slots whose flag is set. */
static char temp_paths[TEMP_SLOTS][TEMP_PATH];
static volatile sig_atomic_t temp_used[TEMP_SLOTS];

static void say(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void on_signal(int sig)
{
    int saved = errno;
    if (atomic_fetch_add(&n_signals, 1) == 0) {
        got_signal = sig;
        if (!quiet) {
            say("\n");
            say(prog_name);
            say(sig == SIGTERM ? ": SIGTERM" : sig == SIGUSR1 ? ": SIGUSR1" : ": interrupted");
            say("; stopping at the next safe point and writing what is complete (again to quit at once)\n");
        }
        errno = saved;
        return;
    }
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (temp_used[i])
            unlink(temp_paths[i]);
    if (!quiet) {
        say(prog_name);
        say(": interrupted again; quitting without writing\n");
    }
    _exit(PROGRAM_EXIT_INTERRUPTED);
}

static int install(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sa.sa_flags = SA_RESTART; /* reads and writes in progress carry on */
    return sigaction(sig, &sa, NULL);
}

/* The thread that takes the signals once they are blocked everywhere else. */
static sigset_t waited;

static void *waiter(void *arg)
{
    (void)arg;
    for (;;) {
        int sig;
        if (sigwait(&waited, &sig) == 0)
            on_signal(sig);
    }
    return NULL;
}

int interrupt_use_thread(void)
{
    sigemptyset(&waited);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGUSR1);
    int e = pthread_sigmask(SIG_BLOCK, &waited, NULL);
    pthread_t t;
    if (e == 0)
        e = pthread_create(&t, NULL, waiter, NULL);
    if (e == 0)
        e = pthread_detach(t);
    if (e != 0) {
        errno = e;
        return -1;
    }
    return 0;
}

int interrupt_also(int sig)
{
    return install(sig);
}

void interrupt_set_quiet(int on)
{
    quiet = on != 0;
}

int interrupt_install(const char *prog)
{
    if (prog)
        prog_name = prog;
    return install(SIGINT) != 0 || install(SIGTERM) != 0 ? -1 : 0;
}

int interrupt_requested(void)
{
    return got_signal != 0;
}

int interrupt_signal(void)
{
    return (int)got_signal;
}

const char *interrupt_signal_name(void)
{
    switch (got_signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: return NULL;
    }
}

int interrupt_cancel(void *user)
{
    (void)user;
    return interrupt_requested();
}

int interrupt_register_temp(const char *path)
{
    size_t len = strlen(path);
    if (len >= TEMP_PATH)
        return -1;
    for (int i = 0; i < TEMP_SLOTS; i++)
        if (!temp_used[i]) {
            memcpy(temp_paths[i], path, len + 1);
            temp_used[i] = 1;
            return i;
        }
    return -1;
}

void interrupt_unregister_temp(int slot)
{
    if (slot >= 0 && slot < TEMP_SLOTS)
        temp_used[slot] = 0;
}

void interrupt_reset(void)
{
    got_signal = 0;
    atomic_store(&n_signals, 0);
}
