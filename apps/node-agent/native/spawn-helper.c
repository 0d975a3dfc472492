/*
 * flotilla-spawn-helper: starts the agent's processes with posix_spawn and forwards their output.
 *
 * The agent talks to it over its stdin and stdout, in the frames `src/spawner.ts` describes:
 *   [u32 LE length of the rest][u8 op][u32 LE id][payload]
 * It is the native twin of the Node.js helper in that file and speaks the same wire. posix_spawn does
 * not copy the parent's page tables (glibc spawns with CLONE_VFORK, macOS has a system call for it), so a
 * spawn costs a fraction of what it costs from a Node.js process, whose fork copies the mappings of a
 * whole V8 heap.
 *
 * One thread, one poll loop. A child's exit is noticed through SIGCHLD and a self-pipe; its stdout and
 * stderr are pipes read without blocking. Frames for the agent are written once per loop iteration.
 * While the agent reads slower than the tasks write, the tasks' pipes are no longer read (they fill and
 * block, as any full pipe does). The helper exits when its stdin closes; the processes it started, each
 * in its own session, are left alone.
 *
 * Build: cc -O2 -o flotilla-spawn-helper spawn-helper.c (scripts/build-native.mjs does it).
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELLO "flotilla-spawn-helper 2"
#define HEADER 9
/** A frame from the agent longer than this is a broken wire, not a request. */
#define MAX_FRAME (64u << 20)
#define READ_CHUNK 65536
/** Output waiting for the agent beyond which the tasks' pipes are not read. */
#define OUT_HIGH_WATER (4u << 20)
#define ENV_SLOTS 8

enum { TO_SPAWN = 1, TO_SIGNAL = 2, TO_CLOSE_PIPES = 3, TO_ENV = 4, TO_DROP_ENV = 5 };
enum { EV_READY = 0, EV_SPAWN = 1, EV_STDOUT = 2, EV_STDERR = 3, EV_EXIT = 4, EV_CLOSE = 5, EV_ERROR = 6 };
enum { SPAWN_KILL_GROUP = 1, SPAWN_HAS_CWD = 2 };

extern char **environ;

struct buffer {
  char *data;
  size_t start, len, cap; /* unread bytes are data[start, len) */
};

struct child {
  uint32_t id;
  pid_t pid;
  int fd[2]; /* stdout, stderr read ends; -1 once closed */
  int exited;
  int kill_group;
  int finished; /* reported closed; removed at the end of the loop iteration */
};

struct env {
  uint32_t id; /* 0: free slot */
  uint64_t used; /* for choosing a slot when all are taken */
  char *blob;
  char **vars;
  size_t count;
};

static struct buffer in, out;
static struct child *children;
static size_t child_count, child_cap;
static struct env envs[ENV_SLOTS];
static uint64_t env_clock;
static int signal_pipe[2];
static int out_blocked; /* the last write to the agent would have blocked: wait for POLLOUT */

static void die(void) { _exit(0); }

static void *grow(void *p, size_t size) {
  void *q = realloc(p, size);
  if (q == NULL) _exit(70); /* out of memory: the agent sees the helper go and reports its processes */
  return q;
}

static void reserve(struct buffer *b, size_t extra) {
  if (b->start > 0 && b->start == b->len) b->start = b->len = 0;
  if (b->len + extra <= b->cap) return;
  if (b->start > 0) {
    memmove(b->data, b->data + b->start, b->len - b->start);
    b->len -= b->start;
    b->start = 0;
    if (b->len + extra <= b->cap) return;
  }
  size_t cap = b->cap < 65536 ? 65536 : b->cap;
  while (cap < b->len + extra) cap *= 2;
  b->data = grow(b->data, cap);
  b->cap = cap;
}

static void put_u32(char *p, uint32_t v) {
  p[0] = (char)(v & 0xff);
  p[1] = (char)((v >> 8) & 0xff);
  p[2] = (char)((v >> 16) & 0xff);
  p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t get_u32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

static void header(char *p, int op, uint32_t id, size_t payload) {
  put_u32(p, (uint32_t)(HEADER - 4 + payload));
  p[4] = (char)op;
  put_u32(p + 5, id);
}

static void send_frame(int op, uint32_t id, const void *payload, size_t length) {
  reserve(&out, HEADER + length);
  header(out.data + out.len, op, id, length);
  if (length > 0) memcpy(out.data + out.len + HEADER, payload, length);
  out.len += HEADER + length;
}

static void send_error(uint32_t id, int err, const char *message) {
  char payload[512];
  size_t length = strlen(message);
  if (length > sizeof payload - 4) length = sizeof payload - 4;
  put_u32(payload, (uint32_t)err);
  memcpy(payload + 4, message, length);
  send_frame(EV_ERROR, id, payload, 4 + length);
}

/** Writes what waits for the agent, as far as its socket takes it now. */
static void flush_out(void) {
  while (out.len > out.start) {
    ssize_t n = write(STDOUT_FILENO, out.data + out.start, out.len - out.start);
    if (n > 0) {
      out.start += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      out_blocked = 1;
      return;
    } else {
      die(); /* the agent is gone */
    }
  }
  out.start = out.len = 0;
}

static void on_sigchld(int signo) {
  (void)signo;
  int saved = errno;
  ssize_t ignored = write(signal_pipe[1], "c", 1); /* a full pipe already says it */
  (void)ignored;
  errno = saved;
}

static int set_flags(int fd, int nonblock) {
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -1;
  if (nonblock) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
  }
  return 0;
}

/** A pipe whose read end does not block; both ends close on exec (the child gets the write end by dup2). */
static int make_pipe(int fds[2]) {
#if defined(__linux__)
  if (pipe2(fds, O_CLOEXEC) < 0) return -1;
#else
  if (pipe(fds) < 0) return -1;
  if (set_flags(fds[1], 0) < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
#endif
  if (set_flags(fds[0], 1) < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  return 0;
}

static struct child *child_by_id(uint32_t id) {
  for (size_t i = 0; i < child_count; i++)
    if (children[i].id == id && !children[i].finished) return &children[i];
  return NULL;
}

static struct child *child_by_pid(pid_t pid) {
  for (size_t i = 0; i < child_count; i++)
    if (children[i].pid == pid) return &children[i];
  return NULL;
}

static void close_pipe(struct child *c, int which) {
  if (c->fd[which] < 0) return;
  close(c->fd[which]);
  c->fd[which] = -1;
}

/** Reports a child closed once it exited and both of its pipes are closed. */
static void maybe_finish(struct child *c) {
  if (c->finished || !c->exited || c->fd[0] >= 0 || c->fd[1] >= 0) return;
  send_frame(EV_CLOSE, c->id, NULL, 0);
  c->finished = 1;
}

/** Drops the children reported closed, keeping the others in the order they were started. */
static void forget_finished(void) {
  size_t kept = 0;
  for (size_t i = 0; i < child_count; i++)
    if (!children[i].finished) children[kept++] = children[i];
  child_count = kept;
}

static struct env *env_by_id(uint32_t id) {
  if (id == 0) return NULL;
  for (int i = 0; i < ENV_SLOTS; i++)
    if (envs[i].id == id) return &envs[i];
  return NULL;
}

static void drop_env(struct env *e) {
  free(e->blob);
  free(e->vars);
  memset(e, 0, sizeof *e);
}

/**
 * Splits `count` NUL-terminated strings off the front of [p, end) into `into` (when given); returns
 * where they end, or NULL when the payload holds fewer.
 */
static const char *take_strings(const char *p, const char *end, size_t count, const char **into) {
  for (size_t i = 0; i < count; i++) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    if (nul == NULL) return NULL;
    if (into != NULL) into[i] = p;
    p = nul + 1;
  }
  return p;
}

/** TO_ENV: [u32 count] then `count` "KEY=value" strings, kept under `id` for later spawns. */
static void keep_env(uint32_t id, const char *payload, size_t length) {
  if (length < 4 || id == 0) return;
  size_t count = get_u32(payload);
  if (count > length) return;
  struct env *slot = env_by_id(id);
  if (slot == NULL) {
    /* A free slot, or the one used longest ago (the agent drops old ones itself; this is a guard). */
    slot = &envs[0];
    for (int i = 1; i < ENV_SLOTS && slot->id != 0; i++)
      if (envs[i].id == 0 || envs[i].used < slot->used) slot = &envs[i];
  }
  drop_env(slot);
  slot->blob = grow(NULL, length - 4 + 1);
  memcpy(slot->blob, payload + 4, length - 4);
  slot->vars = grow(NULL, (count + 1) * sizeof *slot->vars);
  if (take_strings(slot->blob, slot->blob + length - 4, count, (const char **)slot->vars) == NULL) {
    drop_env(slot);
    return;
  }
  slot->vars[count] = NULL;
  slot->count = count;
  slot->id = id;
  slot->used = ++env_clock;
}

/** Whether `var` ("KEY=value") has its KEY set or unset ("KEY") by one of `over`. */
static int overridden(const char *var, const char *const *over, size_t count) {
  size_t key = strcspn(var, "=");
  for (size_t i = 0; i < count; i++)
    if (strncmp(over[i], var, key) == 0 && (over[i][key] == '=' || over[i][key] == '\0')) return 1;
  return 0;
}

static const char *env_value(char *const *envp, const char *key) {
  size_t n = strlen(key);
  for (; *envp != NULL; envp++)
    if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=') return *envp + n + 1;
  return NULL;
}

/**
 * Finds `file` the way Node.js (libuv) does: a name with a slash is used as it is; any other is looked up
 * in the child's PATH (default /usr/bin:/bin), relative entries against the child's cwd. Returns 0 and
 * sets *path (malloc'd, or NULL for `file` itself), or an errno: ENOENT, or EACCES when only
 * non-executables of that name were found.
 */
static int resolve_program(const char *file, const char *cwd, char *const *envp, char **path) {
  *path = NULL;
  if (file[0] == '\0') return ENOENT;
  if (strchr(file, '/') != NULL) return 0;
  const char *search = env_value(envp, "PATH");
  if (search == NULL) search = "/usr/bin:/bin";
  size_t file_len = strlen(file), cwd_len = cwd == NULL ? 0 : strlen(cwd);
  int denied = 0;
  for (const char *dir = search;; dir++) {
    const char *colon = strchr(dir, ':');
    size_t dir_len = colon == NULL ? strlen(dir) : (size_t)(colon - dir);
    const char *prefix = dir_len == 0 ? "." : dir;
    size_t prefix_len = dir_len == 0 ? 1 : dir_len;
    char *candidate = grow(NULL, cwd_len + 1 + prefix_len + 1 + file_len + 1);
    /* The candidate as the child sees it, and where it is seen from here (through cwd when relative). */
    size_t offset = prefix[0] == '/' || cwd == NULL ? 0 : cwd_len + 1;
    if (offset > 0) {
      memcpy(candidate, cwd, cwd_len);
      candidate[cwd_len] = '/';
    }
    memcpy(candidate + offset, prefix, prefix_len);
    candidate[offset + prefix_len] = '/';
    memcpy(candidate + offset + prefix_len + 1, file, file_len + 1);
    struct stat st;
    if (stat(candidate, &st) == 0) {
      if (S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
        if (offset > 0) memmove(candidate, candidate + offset, prefix_len + 1 + file_len + 1);
        *path = candidate;
        return 0;
      }
      denied = 1;
    }
    free(candidate);
    if (colon == NULL) break;
    dir = colon;
  }
  return denied ? EACCES : ENOENT;
}

/**
 * TO_SPAWN: [u8 flags][u32 env id][u32 argc][u32 envc] then NUL-terminated strings: the file, the cwd
 * (with SPAWN_HAS_CWD), argc arguments and envc variables ("KEY=value" sets, "KEY" alone unsets one of the
 * base environment's).
 */
static void start(uint32_t id, const char *payload, size_t length) {
  if (length < 13 || child_by_id(id) != NULL) {
    send_error(id, EINVAL, "malformed spawn request");
    return;
  }
  int flags = (unsigned char)payload[0];
  struct env *base = env_by_id(get_u32(payload + 1));
  size_t argc = get_u32(payload + 5), envc = get_u32(payload + 9);
  const char *end = payload + length;
  if (argc > length || envc > length) {
    send_error(id, EINVAL, "malformed spawn request");
    return;
  }
  const char *file = NULL, *cwd = NULL;
  const char **argv = grow(NULL, (argc + 2) * sizeof *argv);
  const char **over = grow(NULL, (envc + 1) * sizeof *over);
  size_t base_count = base == NULL ? 0 : base->count;
  const char **envp = grow(NULL, (base_count + envc + 1) * sizeof *envp);
  int fds[2][2] = {{-1, -1}, {-1, -1}};
  const char *p = take_strings(payload + 13, end, 1, &file);
  if (p != NULL && (flags & SPAWN_HAS_CWD)) p = take_strings(p, end, 1, &cwd);
  if (p != NULL) p = take_strings(p, end, argc, argv + 1);
  if (p != NULL) p = take_strings(p, end, envc, over);
  if (p == NULL) {
    send_error(id, EINVAL, "malformed spawn request");
    goto done;
  }
  argv[0] = file;
  argv[argc + 1] = NULL;
  size_t n = 0;
  if (base != NULL) {
    base->used = ++env_clock;
    for (size_t i = 0; i < base->count; i++)
      if (!overridden(base->vars[i], over, envc)) envp[n++] = base->vars[i];
  }
  for (size_t i = 0; i < envc; i++)
    if (strchr(over[i], '=') != NULL) envp[n++] = over[i];
  envp[n] = NULL;

  char *resolved = NULL;
  int err = resolve_program(file, cwd, (char *const *)envp, &resolved);
  if (err == 0 && (make_pipe(fds[0]) < 0 || make_pipe(fds[1]) < 0)) err = errno;
  pid_t pid = -1;
  if (err == 0) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[0][1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1][1], STDERR_FILENO);
    if (cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, cwd);
    posix_spawnattr_init(&attr);
    /* Every signal back to its default; glibc keeps its two internal ones (32 and 33) ignored. */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    short spawn_flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_SETSID
    spawn_flags |= POSIX_SPAWN_SETSID; /* like Node.js's `detached: true`: own session, own group */
#else
    spawn_flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
#endif
#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
    spawn_flags |= POSIX_SPAWN_CLOEXEC_DEFAULT; /* macOS: nothing leaks that the actions do not name */
#endif
    posix_spawnattr_setflags(&attr, spawn_flags);
    const char *program = resolved != NULL ? resolved : file;
    err = posix_spawn(&pid, program, &actions, &attr, (char *const *)argv, (char *const *)envp);
    if (err == ENOEXEC) {
      /* An executable without a #! line is a shell script, as execvp (and so Node.js) has it. */
      const char **shell = grow(NULL, (argc + 3) * sizeof *shell);
      shell[0] = "/bin/sh";
      shell[1] = program;
      memcpy(shell + 2, argv + 1, (argc + 1) * sizeof *shell);
      err = posix_spawn(&pid, "/bin/sh", &actions, &attr, (char *const *)shell, (char *const *)envp);
      free(shell);
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  free(resolved);
  for (int i = 0; i < 2; i++)
    if (fds[i][1] >= 0) close(fds[i][1]);
  if (err != 0) {
    for (int i = 0; i < 2; i++)
      if (fds[i][0] >= 0) close(fds[i][0]);
    send_error(id, err, "");
    goto done;
  }
  if (child_count == child_cap) {
    child_cap = child_cap == 0 ? 16 : child_cap * 2;
    children = grow(children, child_cap * sizeof *children);
  }
  children[child_count++] = (struct child){
      .id = id,
      .pid = pid,
      .fd = {fds[0][0], fds[1][0]},
      .exited = 0,
      .kill_group = (flags & SPAWN_KILL_GROUP) != 0,
  };
  char pid_bytes[4];
  put_u32(pid_bytes, (uint32_t)pid);
  send_frame(EV_SPAWN, id, pid_bytes, 4);
  /* Written now: until the agent has the pid, a helper that dies orphans the process. */
  if (!out_blocked) flush_out();
done:
  free(argv);
  free(over);
  free(envp);
}

static void handle(int op, uint32_t id, const char *payload, size_t length) {
  switch (op) {
    case TO_SPAWN:
      start(id, payload, length);
      return;
    case TO_ENV:
      keep_env(id, payload, length);
      return;
    case TO_DROP_ENV: {
      struct env *e = env_by_id(id);
      if (e != NULL) drop_env(e);
      return;
    }
    default:
      break;
  }
  struct child *c = child_by_id(id);
  if (c == NULL) return;
  if (op == TO_SIGNAL && length >= 4) {
    kill(-c->pid, (int)get_u32(payload)); /* ESRCH: the group is already gone */
  } else if (op == TO_CLOSE_PIPES) {
    close_pipe(c, 0);
    close_pipe(c, 1);
    maybe_finish(c);
  }
}

/** Reads the agent's frames; its stdin closing means it is done with the helper. */
static void read_input(void) {
  reserve(&in, READ_CHUNK);
  ssize_t n = read(STDIN_FILENO, in.data + in.len, in.cap - in.len);
  if (n == 0) die();
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    die();
  }
  in.len += (size_t)n;
  while (in.len - in.start >= 4) {
    const char *frame = in.data + in.start;
    uint32_t length = get_u32(frame);
    if (length < HEADER - 4 || length > MAX_FRAME) _exit(2);
    if (in.len - in.start - 4 < length) {
      reserve(&in, length + 4);
      break;
    }
    handle((unsigned char)frame[4], get_u32(frame + 5), frame + HEADER, length - (HEADER - 4));
    in.start += 4 + length;
  }
}

/** Forwards what one of a child's pipes has; end of file closes it. */
static void read_pipe(struct child *c, int which) {
  reserve(&out, HEADER + READ_CHUNK);
  ssize_t n = read(c->fd[which], out.data + out.len + HEADER, READ_CHUNK);
  if (n > 0) {
    header(out.data + out.len, which == 0 ? EV_STDOUT : EV_STDERR, c->id, (size_t)n);
    out.len += HEADER + (size_t)n;
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  close_pipe(c, which);
  maybe_finish(c);
}

/** Reaps every child that ended and reports its exit code or signal. */
static void reap(void) {
  char drain[64];
  while (read(signal_pipe[0], drain, sizeof drain) > 0) {
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    struct child *c = child_by_pid(pid);
    if (c == NULL || c->exited) continue;
    c->exited = 1;
    /* The main process is gone: whatever it left in its group must not hold the pipes open. */
    if (c->kill_group) kill(-pid, SIGKILL);
    char payload[8];
    put_u32(payload, WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) : UINT32_MAX);
    put_u32(payload + 4, WIFSIGNALED(status) ? (uint32_t)WTERMSIG(status) : 0);
    send_frame(EV_EXIT, c->id, payload, 8);
    maybe_finish(c);
  }
}

/**
 * Marks every descriptor the helper inherited beyond stdio close-on-exec, so none reaches a task whatever
 * started the agent and whatever the libc (posix_spawn has no portable "close the rest").
 */
static void close_inherited_on_exec(void) {
  DIR *dir = opendir("/dev/fd");
  if (dir == NULL) return;
  int own = dirfd(dir);
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    char *end;
    long fd = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || fd <= STDERR_FILENO || fd == own) continue;
    int flags = fcntl((int)fd, F_GETFD);
    if (flags >= 0) fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
}

int main(void) {
  close_inherited_on_exec();
  /* Signals meant for the agent (a terminal's, a service manager's) are not the helper's to act on. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  if (make_pipe(signal_pipe) < 0 || set_flags(signal_pipe[1], 1) < 0) return 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  if (set_flags(STDIN_FILENO, 1) < 0 || set_flags(STDOUT_FILENO, 1) < 0) return 1;

  send_frame(EV_READY, 0, HELLO, strlen(HELLO));
  struct pollfd *fds = NULL;
  struct {
    size_t child;
    int which;
  } *owners = NULL;
  size_t fds_cap = 0;
  for (;;) {
    if (out.len > out.start && !out_blocked) flush_out();
    size_t want = 3 + 2 * child_count;
    if (want > fds_cap) {
      fds_cap = want * 2;
      fds = grow(fds, fds_cap * sizeof *fds);
      owners = grow(owners, fds_cap * sizeof *owners);
    }
    size_t nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = signal_pipe[0], .events = POLLIN};
    fds[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    size_t out_index = 0;
    if (out_blocked) {
      out_index = nfds;
      fds[nfds++] = (struct pollfd){.fd = STDOUT_FILENO, .events = POLLOUT};
    }
    size_t first_pipe = nfds;
    if (out.len - out.start < OUT_HIGH_WATER) {
      for (size_t i = 0; i < child_count; i++)
        for (int w = 0; w < 2; w++)
          if (children[i].fd[w] >= 0) {
            owners[nfds].child = i;
            owners[nfds].which = w;
            fds[nfds++] = (struct pollfd){.fd = children[i].fd[w], .events = POLLIN};
          }
    }
    int ready = poll(fds, (nfds_t)nfds, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    /* Pipes first, so that a child's last output goes before its exit; in start order, stdout before
       stderr, which is the best guess at the order of writes that arrived together. */
    for (size_t i = first_pipe; i < nfds; i++) {
      if (fds[i].revents == 0) continue;
      struct child *c = &children[owners[i].child];
      if (c->fd[owners[i].which] == fds[i].fd) read_pipe(c, owners[i].which);
    }
    if (fds[0].revents != 0) reap();
    if (out_index > 0 && fds[out_index].revents != 0) out_blocked = 0;
    if (fds[1].revents != 0) read_input();
    forget_finished();
  }
}
