/*
 * cmd_serve.c — `keygate serve`: run nginx with ngx_http_keygate_module and
 * the reference API of SPEC §3 in the foreground.
 *
 *   keygate serve [--db PATH] [--listen 127.0.0.1:8080] [--workers N|auto]
 *                 [--module FILE] [--nginx FILE] [--log-dir DIR]
 *                 [--refresh 500ms] [--max-staleness 2s]
 *                 [--pepper-file FILE]
 *                 [--upstream HOST:PORT] [--print-config [--prefix DIR]]
 *
 * The configuration is nginx/conf/gateway.conf, built into the program
 * (cli/CMakeLists.txt) and rendered by render_conf below: the one
 * configuration of the project. --print-config prints it rendered for the
 * given options and exits (scripts/bench-server and the server_* tests run
 * nginx with that); --upstream proxies to an API instead of answering with
 * the reference API. --pepper-file (default $KEYGATE_PEPPER_FILE) serves a
 * peppered store: the store is opened with it once here (a wrong pepper
 * stops keygate serve before nginx starts) and the configuration names
 * the file (keygate_pepper_file), which nginx's master reads.
 *
 * Writes nginx.conf into a private folder made with mkdtemp (mode 0700;
 * pid, logs and temp paths live there too), runs nginx with `daemon off`
 * and `master_process on` (nginx -g), prints "listening on http://HOST:PORT"
 * once every worker serves the store (/_keygate/status answers 200), and
 * on SIGINT or SIGTERM stops nginx
 * gracefully (SIGQUIT, then SIGTERM after 10 s) and removes the folder.
 * SIGHUP is passed on to nginx: it reloads its configuration and the store.
 *
 * --db defaults to $KEYGATE_DB. --listen takes HOST:PORT or :PORT, which
 * is 127.0.0.1:PORT: keygate serve listens on loopback unless told
 * otherwise (nginx and Go read ":PORT" as every interface; 0.0.0.0:PORT
 * says that here), and the listening line names the address bound.
 *
 * The module is found by --module, then $KEYGATE_NGINX_MODULE, then next to
 * the program: ../lib/ and ../lib/keygate/. nginx is found by --nginx, then
 * $KEYGATE_NGINX, then $PATH, then /usr/sbin/nginx. A file named by a flag
 * or a variable that is not there is reported by the path given.
 *
 * Exit 0 after a requested stop; 2 with one line on stderr (trouble, as
 * every keygate command has it: docs/cli.md) for a usage error, a missing
 * nginx or module, a busy port, a store that cannot be read, or an nginx
 * that stops on its own.
 */
#define _GNU_SOURCE /* mkdtemp, nftw, prctl, PR_SET_PDEATHSIG */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keygate/store.h"
#include "keygate_conf_template.h" /* kg_conf_template: gateway.conf */

#define CMD "serve"
#define MODULE_FILE "ngx_http_keygate_module.so"
#define READY_TIMEOUT_MS 15000
#define STOP_GRACE_S 10

typedef struct serve_opts {
  const char *db;
  const char *listen;
  const char *workers;
  const char *module;
  const char *nginx;
  const char *log_dir;
  const char *refresh;
  const char *max_staleness;
  const char *pepper_file; /* --pepper-file, or NULL */
  const char *upstream;    /* HOST:PORT, or NULL for the reference API */
  const char *prefix;      /* --print-config: the folder for pid and temps */
  int print_config;
  char host[256];
  char port[8];
  char listen_buf[272];   /* HOST:PORT, the address bound */
  char refresh_buf[32];   /* --refresh as nginx reads it, "<N>ms" */
  char staleness_buf[32]; /* --max-staleness, the same */
} serve_opts;

static volatile sig_atomic_t g_stop;   /* SIGINT/SIGTERM seen */
static volatile sig_atomic_t g_reload; /* SIGHUP seen */

static void on_stop(int sig) {
  (void)sig;
  g_stop = 1;
}

static void on_reload(int sig) {
  (void)sig;
  g_reload = 1;
}

static void usage(FILE *f) {
  fprintf(f, "usage: keygate serve [--db PATH] [--listen 127.0.0.1:8080] "
             "[--workers N|auto]\n"
             "                     [--module FILE] [--nginx FILE] "
             "[--log-dir DIR]\n"
             "                     [--refresh 500ms] [--max-staleness 2s]\n"
             "                     [--pepper-file FILE]\n"
             "                     [--upstream HOST:PORT] "
             "[--print-config [--prefix DIR]]\n"
             "Runs nginx with the keygate module in front of the reference "
             "API,\nGET /api/v1/iocs (or of --upstream). Ctrl-C stops it; "
             "SIGHUP reloads.\n--print-config prints the nginx.conf it would "
             "run and exits (pid and temp\nfiles in --prefix, default the "
             "current folder; logs in --log-dir, default --prefix).\n"
             "--pepper-file FILE (default $KEYGATE_PEPPER_FILE): the pepper "
             "of a peppered\nstore (docs/store.md).\n"
             "--db defaults to $KEYGATE_DB. --listen :PORT is "
             "127.0.0.1:PORT (loopback, not\nevery interface as in nginx; "
             "0.0.0.0:PORT for that).\n"
             "exit: 0 stopped when asked, 2 usage error or trouble (one line "
             "on stderr).\n");
}

/* ---- arguments ---------------------------------------------------------- */

/* Split "HOST:PORT" (HOST may be [v6]) into host (256 bytes) and port (8
 * bytes). */
static int parse_hostport(const char *s, char *out_host, char *out_port) {
  const char *colon = strrchr(s, ':');
  if (colon == NULL || colon == s || colon[1] == '\0') {
    return -1;
  }
  size_t hlen = (size_t)(colon - s);
  if (s[0] == '[') {
    if (hlen < 3 || s[hlen - 1] != ']') {
      return -1;
    }
  }
  if (hlen >= 256) {
    return -1;
  }
  memcpy(out_host, s, hlen);
  out_host[hlen] = '\0';
  char *end = NULL;
  errno = 0;
  long port = strtol(colon + 1, &end, 10);
  if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 ||
      port > 65535) {
    return -1;
  }
  snprintf(out_port, 8, "%ld", port);
  for (const char *p = out_host; *p != '\0'; p++) {
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
          (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '-' || *p == ':' ||
          *p == '[' || *p == ']')) {
      return -1;
    }
  }
  return 0;
}

/* --listen: HOST:PORT, or :PORT for 127.0.0.1:PORT (loopback first; see
 * the top of this file). o->listen becomes the address bound. */
static int parse_listen(serve_opts *o) {
  char full[sizeof o->listen_buf];
  const char *l = o->listen;
  if (l[0] == ':') {
    if (snprintf(full, sizeof full, "127.0.0.1%s", l) >= (int)sizeof full) {
      return -1;
    }
    l = full;
  }
  if (parse_hostport(l, o->host, o->port) != 0) {
    return -1;
  }
  snprintf(o->listen_buf, sizeof o->listen_buf, "%s:%s", o->host, o->port);
  o->listen = o->listen_buf;
  return 0;
}

/* Take the one flag without a value, --print-config, out of argv. */
static int take_print_config(int argc, char **argv, serve_opts *o) {
  int n = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--print-config") == 0) {
      o->print_config = 1;
    } else {
      argv[n++] = argv[i];
    }
  }
  return n;
}

static int parse_args(int argc, char **argv, serve_opts *o) {
  memset(o, 0, sizeof *o);
  o->listen = "127.0.0.1:8080";
  o->workers = "auto";
  argc = take_print_config(argc, argv, o);
  const cli_flag flags[] = {
      {"--upstream", &o->upstream},
      {"--prefix", &o->prefix},
      {"--db", &o->db},
      {"--listen", &o->listen},
      {"--workers", &o->workers},
      {"--module", &o->module},
      {"--nginx", &o->nginx},
      {"--log-dir", &o->log_dir},
      {"--refresh", &o->refresh},
      {"--max-staleness", &o->max_staleness},
      {"--pepper-file", &o->pepper_file},
  };
  int rc = cli_parse_flags(CMD, argc, argv, flags, sizeof flags / sizeof *flags,
                           CLI_EXIT_USAGE);
  if (rc != 0) {
    if (rc < 0) {
      usage(stdout);
    }
    return rc;
  }
  o->db = cli_db_path(o->db, NULL);
  if (o->db == NULL || o->db[0] == '\0') {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--db PATH is required: the key store to serve (or set "
                     "KEYGATE_DB)");
  }
  if (parse_listen(o) != 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--listen '%s' is not HOST:PORT or :PORT (port 1-65535), "
                     "e.g. 127.0.0.1:8080",
                     o->listen);
  }
  char uhost[256];
  char uport[8];
  if (o->upstream != NULL && parse_hostport(o->upstream, uhost, uport) != 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--upstream '%s' is not HOST:PORT (port 1-65535), e.g. "
                     "127.0.0.1:9000",
                     o->upstream);
  }
  if (o->prefix != NULL && !o->print_config) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--prefix goes with --print-config; keygate serve makes "
                     "its own folder");
  }
  /* cli_parse_time's grammar (every time keygate takes), rendered for
   * nginx in milliseconds (fill_values): nginx's own has no fractions. */
  int64_t refresh = 500;
  int64_t staleness = -1; /* default: 2 s (SPEC §2), or twice --refresh */
  if ((o->refresh != NULL && cli_parse_time(o->refresh, &refresh) != 0) ||
      (o->max_staleness != NULL &&
       cli_parse_time(o->max_staleness, &staleness) != 0)) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--refresh and --max-staleness take a time such as "
                     "500ms, 1s or 10s");
  }
  if (staleness < 0) {
    staleness = 2 * refresh > 2000 ? 2 * refresh : 2000;
  }
  snprintf(o->refresh_buf, sizeof o->refresh_buf, "%lldms", (long long)refresh);
  snprintf(o->staleness_buf, sizeof o->staleness_buf, "%lldms",
           (long long)staleness);
  /* The module's bounds (keygate_refresh, keygate_max_staleness), said here
   * by the flags' names rather than by nginx about a file of its own
   * (--print-config renders any time: nginx -t then judges it). */
  if (!o->print_config && refresh < 100) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--refresh %s is too short: at least 100ms", o->refresh);
  }
  if (!o->print_config && staleness < 2 * refresh) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--max-staleness must be at least twice --refresh "
                     "(2 x %lld ms = %lld ms): a store is polled at least "
                     "twice before the server stops answering from it",
                     (long long)refresh, 2 * (long long)refresh);
  }
  if (strcmp(o->workers, "auto") != 0) {
    char *end = NULL;
    errno = 0;
    long n = strtol(o->workers, &end, 10);
    if (errno != 0 || end == o->workers || *end != '\0' || n < 1 || n > 64) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--workers '%s' must be 1 to 64 or 'auto'", o->workers);
    }
  }
  return 0;
}

/* ---- finding files ------------------------------------------------------ */

static int is_file(const char *path, int mode) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, mode) == 0;
}

/* A path nginx.conf can hold inside double quotes. */
static int conf_safe(const char *s) {
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '$') {
      return 0;
    }
  }
  return 1;
}

/* The absolute form of an existing path, into out (PATH_MAX). */
static int absolute(const char *path, char *out) {
  return realpath(path, out) != NULL ? 0 : -1;
}

static int find_nginx(const serve_opts *o, char *out, size_t cap) {
  const char *given = o->nginx != NULL ? o->nginx : getenv("KEYGATE_NGINX");
  if (given != NULL && given[0] != '\0') {
    if (!is_file(given, X_OK)) {
      return -2; /* named, and not there: the caller names it */
    }
    snprintf(out, cap, "%s", given);
    return 0;
  }
  const char *path = getenv("PATH");
  if (path != NULL) {
    const char *p = path;
    while (*p != '\0') {
      const char *end = strchr(p, ':');
      size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
      if (len > 0 && len + sizeof "/nginx" <= cap) {
        snprintf(out, cap, "%.*s/nginx", (int)len, p);
        if (is_file(out, X_OK)) {
          return 0;
        }
      }
      p += len;
      if (*p == ':') {
        p++;
      }
    }
  }
  static const char *const fallback[] = {"/usr/sbin/nginx",
                                         "/usr/local/sbin/nginx",
                                         "/usr/local/nginx/sbin/nginx"};
  for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++) {
    if (is_file(fallback[i], X_OK)) {
      snprintf(out, cap, "%s", fallback[i]);
      return 0;
    }
  }
  return -1;
}

static int find_module(const serve_opts *o, char *out, size_t cap) {
  const char *given =
      o->module != NULL ? o->module : getenv("KEYGATE_NGINX_MODULE");
  if (given != NULL && given[0] != '\0') {
    return is_file(given, R_OK) && absolute(given, out) == 0 ? 0 : -2;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    return -1;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) {
    return -1;
  }
  *slash = '\0';
  static const char *const rel[] = {"../lib/" MODULE_FILE,
                                    "../lib/keygate/" MODULE_FILE};
  for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    char cand[PATH_MAX + 64];
    snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
    if (is_file(cand, R_OK) && absolute(cand, out) == 0) {
      (void)cap;
      return 0;
    }
  }
  return -1;
}

/* The line for a file named by `what` (a flag or a variable) that is not
 * usable: by the path given, and why. Returns CLI_EXIT_TROUBLE. */
static int missing_file(const char *what, const char *path, int mode,
                        const char *want) {
  struct stat sb;
  if (path == NULL) {
    path = ""; /* not reached: the caller found it set */
  }
  const char *why = stat(path, &sb) != 0   ? strerror(errno)
                    : !S_ISREG(sb.st_mode) ? "not a file"
                    : mode == X_OK         ? "not executable"
                                           : "not readable";
  return cli_error(CLI_EXIT_TROUBLE, CMD, "%s %s: %s; give the path of %s",
                   what, path, why, want);
}

/* ---- preflight -------------------------------------------------------- */

/* Open the store read-only with its pepper (pepper_file NULL: none) and
 * load it once, as the module will. */
static int check_store(const char *db, const char *pepper_file) {
  kg_pepper pepper;
  const kg_pepper *use = NULL;
  if (pepper_file != NULL) {
    const int rc = cli_pepper_read(CMD, pepper_file, &pepper, &use);
    if (rc != 0) {
      return rc;
    }
  }
  char err[KG_STORE_ERR_MAX];
  kg_store *s = NULL;
  kg_snapshot *snap = NULL;
  const int opened =
      kg_store_open_peppered(db, KG_STORE_READONLY, use, &s, err, sizeof err);
  kg_pepper_wipe(&pepper);
  if (opened != 0 || kg_store_load(s, &snap, err, sizeof err) != 0) {
    const kg_store_error_kind kind = kg_store_last_error_kind();
    kg_store_close(s);
    char fix[PATH_MAX + 96];
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "cannot read the key store %s: %s%s", db, err,
                     cli_store_fix(kind, db, fix, sizeof fix));
  }
  kg_snapshot_free(snap);
  kg_store_close(s);
  return 0;
}

/* The listen address, resolved. Returns 0 and fills *res (free with
 * freeaddrinfo), or -1. */
static int resolve(const serve_opts *o, struct addrinfo **res) {
  char host[sizeof o->host];
  snprintf(host, sizeof host, "%s", o->host);
  if (host[0] == '[') {
    size_t len = strlen(host);
    memmove(host, host + 1, len - 2);
    host[len - 2] = '\0';
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  return getaddrinfo(host, o->port, &hints, res) == 0 ? 0 : -1;
}

/* Bind the address the way nginx will (SO_REUSEADDR): a port taken by a
 * listener fails here with one clear line instead of inside nginx. */
static int check_port(const serve_opts *o) {
  struct addrinfo *res = NULL;
  if (resolve(o, &res) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot resolve the host of %s",
                     o->listen);
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  int rc = 0;
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1) != 0) {
    if (errno == EADDRINUSE) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD,
                     "%s is already in use; stop what listens there or pick "
                     "another port with --listen",
                     o->listen);
    } else {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "cannot listen on %s: %s",
                     o->listen, strerror(errno));
    }
  }
  if (fd >= 0) {
    close(fd);
  }
  freeaddrinfo(res);
  return rc;
}

/* ---- the configuration ---------------------------------------------- */

/* The values of the template's placeholders; NULL: none (an error if a
 * line kept needs it). */
typedef struct conf_values {
  const char *module, *db, *listen, *upstream, *prefix, *log_dir, *workers,
      *refresh, *max_staleness, *pepper_file;
} conf_values;

static const char TAG_UPSTREAM[] = " # upstream only";
static const char TAG_REFERENCE[] = " # reference API only";
static const char TAG_PEPPER[] = " # pepper only";

static const char *placeholder(const conf_values *v, const char *name,
                               size_t len) {
  const struct {
    const char *name;
    const char *value;
  } table[] = {
      {"MODULE", v->module},
      {"DB", v->db},
      {"LISTEN", v->listen},
      {"UPSTREAM", v->upstream},
      {"PREFIX", v->prefix},
      {"LOG_DIR", v->log_dir},
      {"WORKERS", v->workers},
      {"REFRESH", v->refresh},
      {"MAX_STALENESS", v->max_staleness},
      {"PEPPER_FILE", v->pepper_file},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0) {
      return table[i].value;
    }
  }
  return NULL;
}

static int ends_with(const char *line, size_t len, const char *tag) {
  size_t t = strlen(tag);
  return len >= t && memcmp(line + len - t, tag, t) == 0;
}

/* Write one template line (without its newline) with every @NAME@
 * replaced. Returns 0, or -1 after one line on stderr for a placeholder
 * without a value. */
static int render_line(FILE *f, const char *line, size_t len,
                       const conf_values *v) {
  size_t i = 0;
  while (i < len) {
    size_t name_len = 0;
    if (line[i] == '@') {
      while (i + 1 + name_len < len && ((line[i + 1 + name_len] >= 'A' &&
                                         line[i + 1 + name_len] <= 'Z') ||
                                        line[i + 1 + name_len] == '_')) {
        name_len++;
      }
    }
    if (name_len == 0 || i + 1 + name_len >= len ||
        line[i + 1 + name_len] != '@') {
      fputc(line[i], f);
      i++;
      continue;
    }
    const char *value = placeholder(v, line + i + 1, name_len);
    if (value == NULL) {
      return cli_error(-1, CMD, "the configuration template needs @%.*s@",
                       (int)name_len, line + i + 1);
    }
    fputs(value, f);
    i += name_len + 2;
  }
  fputc('\n', f);
  return 0;
}

/*
 * render_conf — write nginx/conf/gateway.conf (kg_conf_template) to f with
 * its placeholders replaced by v: lines tagged "# upstream only" only with
 * v->upstream, lines tagged "# reference API only" only without, lines
 * tagged "# pepper only" only with v->pepper_file, each without its tag. The
 * one renderer of the configuration. Returns 0 or -1 (one line on stderr).
 */
static int render_conf(FILE *f, const conf_values *v) {
  const char *p = (const char *)kg_conf_template;
  while (*p != '\0') {
    const char *nl = strchr(p, '\n');
    size_t full = nl != NULL ? (size_t)(nl - p) : strlen(p);
    size_t len = full;
    int keep = 1;
    if (ends_with(p, len, TAG_UPSTREAM)) {
      keep = v->upstream != NULL;
      len -= sizeof TAG_UPSTREAM - 1;
    } else if (ends_with(p, len, TAG_REFERENCE)) {
      keep = v->upstream == NULL;
      len -= sizeof TAG_REFERENCE - 1;
    } else if (ends_with(p, len, TAG_PEPPER)) {
      keep = v->pepper_file != NULL;
      len -= sizeof TAG_PEPPER - 1;
    }
    if (keep && render_line(f, p, len, v) != 0) {
      return -1;
    }
    p += full + (nl != NULL ? 1 : 0);
  }
  return 0;
}

static void fill_values(const serve_opts *o, conf_values *v, const char *module,
                        const char *db, const char *prefix,
                        const char *log_dir) {
  v->pepper_file = o->pepper_file; /* made absolute by cmd_serve */
  v->module = module;
  v->db = db;
  /* "[::]:PORT" means every interface (docs/cli.md): nginx's listen on
   * [::] is IPv6 only unless told otherwise. */
  static char any6[sizeof o->listen_buf + 16];
  v->listen = o->listen;
  if (strncmp(o->listen, "[::]:", 5) == 0) {
    snprintf(any6, sizeof any6, "%s ipv6only=off", o->listen);
    v->listen = any6;
  }
  v->upstream = o->upstream;
  v->prefix = prefix;
  v->log_dir = log_dir;
  v->workers = o->workers;
  v->refresh = o->refresh != NULL ? o->refresh_buf : "500ms";
  v->max_staleness = o->staleness_buf;
}

static int write_conf(const serve_opts *o, const char *dir, const char *module,
                      const char *db, const char *log_dir) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/nginx.conf", dir);
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot write %s: %s", path,
                     strerror(errno));
  }
  fprintf(f, "# Written by `keygate serve`; removed when it stops.\n");
  conf_values v;
  fill_values(o, &v, module, db, dir, log_dir);
  int bad = render_conf(f, &v);
  if (fclose(f) != 0 || bad) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot write %s", path);
  }
  return 0;
}

/* What nginx -g adds to the configuration: the foreground, and the `user`
 * line — only a master running as root switches users, and then workers
 * must stay the invoking user to read the store and this folder. */
static void main_directives(char *out, size_t cap) {
  snprintf(out, cap, "daemon off; master_process on;");
  if (geteuid() != 0) {
    return;
  }
  struct passwd *pw = getpwuid(getuid());
  struct group *gr = getgrgid(getgid());
  if (pw != NULL && gr != NULL && conf_safe(pw->pw_name) &&
      conf_safe(gr->gr_name)) {
    size_t used = strlen(out);
    snprintf(out + used, cap - used, " user \"%s\" \"%s\";", pw->pw_name,
             gr->gr_name);
  }
}

/* ---- running nginx ---------------------------------------------------- */

static pid_t start_nginx(const char *nginx, const char *dir) {
  char conf[PATH_MAX + 32];
  char errfile[PATH_MAX + 32];
  snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
  snprintf(errfile, sizeof errfile, "%s/nginx.stderr", dir);
  const pid_t parent = getpid();
  /* The stop and reload signals held across the fork: one sent then
   * reaches the parent's handler after it, or the child's default action,
   * never a handler the child inherited. */
  sigset_t held;
  sigset_t before;
  sigemptyset(&held);
  sigaddset(&held, SIGINT);
  sigaddset(&held, SIGTERM);
  sigaddset(&held, SIGHUP);
  sigaddset(&held, SIGQUIT);
  sigprocmask(SIG_BLOCK, &held, &before);
  pid_t pid = fork();
  if (pid != 0) {
    sigprocmask(SIG_SETMASK, &before, NULL);
    return pid;
  }
  /* The child: its own process group (a terminal's Ctrl-C reaches only
   * keygate, which stops nginx gracefully), gone when keygate dies: the
   * default actions back first (keygate's handlers, inherited, would only
   * note the death signal and carry on), then the death signal. A keygate
   * that died before the prctl sent none: then the child's parent is
   * another process already, and it stops here. */
  setpgid(0, 0);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGQUIT, SIG_DFL); /* ignored when keygate was started with & */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
    _exit(127);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int devnull = open("/dev/null", O_RDWR);
  if (fd >= 0 && devnull >= 0) {
    dup2(devnull, 0);
    dup2(fd, 1);
    dup2(fd, 2);
  }
  char prefix[PATH_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", dir);
  char globals[1024];
  main_directives(globals, sizeof globals);
  execl(nginx, nginx, "-p", prefix, "-c", conf, "-g", globals, (char *)NULL);
  /* on nginx.stderr, where nginx_reason reads it */
  dprintf(2, "cannot run %s: %s\n", nginx, strerror(errno));
  _exit(127);
}

/* How nginx ended (waitpid's status), for a reason it did not write. */
static void ended_reason(int status, char *out, size_t cap) {
  if (WIFSIGNALED(status)) {
    snprintf(out, cap, "no message (killed by signal %d)", WTERMSIG(status));
  } else {
    snprintf(out, cap, "no message (exit %d)", WEXITSTATUS(status));
  }
}

/* The last "[emerg]" (or else last) line nginx wrote on stderr. */
static void nginx_reason(const char *dir, char *out, size_t cap) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/nginx.stderr", dir);
  snprintf(out, cap, "no message");
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return;
  }
  char line[1024];
  int have_emerg = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    int emerg = strstr(line, "[emerg]") != NULL;
    if (line[0] != '\0' && (emerg || !have_emerg)) {
      snprintf(out, cap, "%s", line);
      have_emerg |= emerg;
    }
  }
  fclose(f);
}

/* Bytes in LOGDIR/error.log now (0: none), where this run's lines
 * start. */
static long log_size(const char *logdir) {
  char path[PATH_MAX + 32];
  struct stat sb;
  snprintf(path, sizeof path, "%s/error.log", logdir);
  return stat(path, &sb) == 0 ? (long)sb.st_size : 0;
}

/* The last refusal the module logged at alert in LOGDIR/error.log past
 * byte `from` (a store gone back, of another history or of an epoch
 * left: what keeps the workers from serving), from "the key store" on;
 * 0, or -1 when none. */
static int refusal_reason(const char *logdir, long from, char *out,
                          size_t cap) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/error.log", logdir);
  FILE *f = fopen(path, "r");
  if (f == NULL || fseek(f, from, SEEK_SET) != 0) {
    if (f != NULL) {
      fclose(f);
    }
    return -1;
  }
  char line[4096];
  int found = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    const char *at = strstr(line, "keygate: the key store ");
    if (strstr(line, "[alert]") != NULL && at != NULL) {
      line[strcspn(line, "\n")] = '\0';
      snprintf(out, cap, "%s", at + sizeof "keygate: " - 1);
      found = 0;
    }
  }
  fclose(f);
  return found;
}

/*
 * readiness — ask the listen address for /_keygate/status (the module's
 * keygate_status location in gateway.conf: 200 when every worker of
 * nginx serves the key store, else 503; docs/server.md, "Readiness").
 * Returns the status code, or 0 when nothing answered yet; the body's
 * first line goes to body (for the message when it never turns 200).
 */
static int readiness(const serve_opts *o, char *body, size_t cap) {
  struct addrinfo *res = NULL;
  body[0] = '\0';
  if (resolve(o, &res) != 0) {
    return 0;
  }
  int code = 0;
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    static const char req[] = "GET /_keygate/status HTTP/1.1\r\n"
                              "Host: keygate\r\nConnection: close\r\n\r\n";
    char buf[2048];
    size_t have = 0;
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) ==
        (ssize_t)(sizeof req - 1)) {
      /* read to the end (Connection: close), at most 1 s per read */
      struct pollfd p = {fd, POLLIN, 0};
      while (have < sizeof buf - 1 && poll(&p, 1, 1000) == 1) {
        ssize_t n = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) {
          break;
        }
        have += (size_t)n;
      }
    }
    buf[have] = '\0';
    if (have >= 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0) {
      code = (int)strtol(buf + 9, NULL, 10);
      const char *b = strstr(buf, "\r\n\r\n");
      if (b != NULL) {
        snprintf(body, cap, "%.*s", (int)strcspn(b + 4, "\r\n"), b + 4);
      }
    }
  }
  if (fd >= 0) {
    close(fd);
  }
  freeaddrinfo(res);
  return code;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Wait for pid for at most seconds; 1 when it has exited. */
static int wait_exit(pid_t pid, int seconds, int *status) {
  for (int i = 0; i < seconds * 20; i++) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      return 1;
    }
    sleep_ms(50);
  }
  return 0;
}

static void stop_nginx(pid_t pid) {
  int status = 0;
  kill(pid, SIGQUIT); /* graceful: finish the requests in flight */
  if (wait_exit(pid, STOP_GRACE_S, &status)) {
    return;
  }
  kill(pid, SIGTERM);
  if (wait_exit(pid, 5, &status)) {
    return;
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void remove_dir(const char *dir) {
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Wait until every worker of nginx serves the store (or nginx fails);
 * then until a stop signal. */
static int supervise(const serve_opts *o, pid_t pid, const char *dir,
                     const char *logdir, long log_from) {
  int status = 0;
  int ready = 0;
  int code = 0;
  char reason[1024];
  char body[256];
  for (long waited = 0; !ready; waited += 50) {
    if (g_stop) {
      stop_nginx(pid);
      return CLI_EXIT_OK;
    }
    if (waitpid(pid, &status, WNOHANG) == pid) {
      nginx_reason(dir, reason, sizeof reason);
      if (strcmp(reason, "no message") == 0) {
        ended_reason(status, reason, sizeof reason);
      }
      return cli_error(CLI_EXIT_TROUBLE, CMD, "nginx did not start: %s",
                       reason);
    }
    if (waited >= READY_TIMEOUT_MS) {
      stop_nginx(pid);
      char why[4096];
      if (code == 503 &&
          refusal_reason(logdir, log_from, why, sizeof why) == 0) {
        /* what a server remembers refuses this store (docs/server.md) */
        return cli_error(CLI_EXIT_TROUBLE, CMD,
                         "no nginx worker serves the key store after %d s: "
                         "%s",
                         READY_TIMEOUT_MS / 1000, why);
      }
      if (code == 503) {
        return cli_error(CLI_EXIT_TROUBLE, CMD,
                         "not every nginx worker serves the key store "
                         "after %d s (%s); with --log-dir DIR, DIR/error.log "
                         "says why",
                         READY_TIMEOUT_MS / 1000, body);
      }
      return cli_error(CLI_EXIT_TROUBLE, CMD,
                       "nginx did not answer on %s within %d s", o->listen,
                       READY_TIMEOUT_MS / 1000);
    }
    code = readiness(o, body, sizeof body);
    ready = code == 200;
    if (!ready) {
      sleep_ms(50);
    }
  }
  printf("listening on http://%s:%s\n", o->host, o->port);
  fflush(stdout);

  while (!g_stop) {
    if (g_reload) {
      g_reload = 0;
      kill(pid, SIGHUP);
    }
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      nginx_reason(dir, reason, sizeof reason);
      if (strcmp(reason, "no message") == 0) {
        ended_reason(status, reason, sizeof reason);
      }
      return cli_error(CLI_EXIT_TROUBLE, CMD, "nginx stopped on its own: %s",
                       reason);
    }
    sleep_ms(50);
  }
  stop_nginx(pid);
  return CLI_EXIT_OK;
}

/* --print-config: the configuration for these options on stdout, pid and
 * temp files in --prefix (default: the current folder), logs in --log-dir
 * (default: --prefix). */
static int print_config(const serve_opts *o, const char *module, const char *db,
                        const char *log_dir) {
  char prefix[PATH_MAX];
  const char *given = o->prefix != NULL ? o->prefix : ".";
  if (absolute(given, prefix) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "--prefix %s: %s", given,
                     strerror(errno));
  }
  if (!conf_safe(prefix)) {
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "paths must not hold '\"', '\\', '$' or control "
                     "characters");
  }
  conf_values v;
  fill_values(o, &v, module, db, prefix, log_dir != NULL ? log_dir : prefix);
  if (render_conf(stdout, &v) != 0) {
    return CLI_EXIT_TROUBLE;
  }
  return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_TROUBLE;
}

int cmd_serve(int argc, char **argv) {
  serve_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }

  char db[PATH_MAX];
  if (!o.print_config && (rc = cli_db_check(CMD, o.db)) != 0) {
    return rc;
  }
  if (o.print_config && o.db[0] == '/' && strlen(o.db) < sizeof db) {
    /* Printed, not run: a store made later (or a missing one, to see nginx
     * refuse it) is fine. */
    snprintf(db, sizeof db, "%s", o.db);
  } else if (absolute(o.db, db) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "cannot read the key store %s: %s; create it with "
                     "'keygate accounts create'",
                     o.db, strerror(errno));
  }
  char nginx[PATH_MAX];
  if (!o.print_config && (rc = find_nginx(&o, nginx, sizeof nginx)) != 0) {
    if (rc == -2) {
      return missing_file(o.nginx != NULL ? "--nginx" : "KEYGATE_NGINX",
                          o.nginx != NULL ? o.nginx : getenv("KEYGATE_NGINX"),
                          X_OK, "the nginx program");
    }
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "nginx not found; install it (apt-get install nginx) or "
                     "pass --nginx FILE");
  }
  char module[PATH_MAX];
  if ((rc = find_module(&o, module, sizeof module)) != 0) {
    if (rc == -2) {
      return missing_file(
          o.module != NULL ? "--module" : "KEYGATE_NGINX_MODULE",
          o.module != NULL ? o.module : getenv("KEYGATE_NGINX_MODULE"), R_OK,
          "the module " MODULE_FILE);
    }
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "the nginx module %s was not found; build it (nginx-dev "
                     "installed) or pass --module FILE",
                     MODULE_FILE);
  }
  char log_dir[PATH_MAX] = "";
  if (o.log_dir != NULL && absolute(o.log_dir, log_dir) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "--log-dir %s: %s; make it first (mkdir -p %s)", o.log_dir,
                     strerror(errno), o.log_dir);
  }
  /* The pepper file's absolute path goes into the configuration; its
   * bytes never do (nginx's master reads the file). */
  const char *pepper_env = getenv("KEYGATE_PEPPER_FILE");
  if (o.pepper_file == NULL && pepper_env != NULL && pepper_env[0] != '\0') {
    o.pepper_file = pepper_env;
  }
  char pepper_file[PATH_MAX] = "";
  if (o.pepper_file != NULL) {
    if (o.pepper_file[0] == '\0') {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--pepper-file needs the path of the pepper file");
    }
    if (absolute(o.pepper_file, pepper_file) != 0) {
      return cli_error(CLI_EXIT_TROUBLE, CMD,
                       "cannot read the pepper file %s: %s", o.pepper_file,
                       strerror(errno));
    }
    o.pepper_file = pepper_file;
  }
  if (!conf_safe(db) || !conf_safe(module) || !conf_safe(log_dir) ||
      !conf_safe(pepper_file)) {
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "paths must not hold '\"', '\\', '$' or control "
                     "characters");
  }
  if (o.print_config) {
    return print_config(&o, module, db, o.log_dir != NULL ? log_dir : NULL);
  }
  if ((rc = check_store(db, o.pepper_file)) != 0 ||
      (rc = check_port(&o)) != 0) {
    return rc;
  }

  const char *tmp = getenv("TMPDIR");
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/keygate-serve-XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL || !conf_safe(dir)) {
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "cannot make a private folder in %s",
                     tmp != NULL ? tmp : "/tmp");
  }

  /* Signals: a stop request from here on is seen by supervise (the child
   * gets default handlers back at exec). */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_reload;
  sigaction(SIGHUP, &sa, NULL);

  const char *logs = o.log_dir != NULL ? log_dir : dir;
  rc = write_conf(&o, dir, module, db, logs);
  if (rc == 0) {
    const long log_from = log_size(logs);
    pid_t pid = start_nginx(nginx, dir);
    if (pid < 0) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "cannot start nginx: %s",
                     strerror(errno));
    } else {
      rc = supervise(&o, pid, dir, logs, log_from);
    }
  }
  remove_dir(dir);
  return rc;
}
