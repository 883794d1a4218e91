/*
 * ngx_http_keygate_module.c — API-key authentication for nginx with
 * libkeygate (SPEC §1). The reference API of SPEC §3 (keygate_mock_iocs) is
 * its own module, ngx_http_keygate_mock_module.c, in the same .so.
 *
 * Sections:
 *   configuration   directives, the key stores they name, merge
 *   snapshots       load at configuration time (master), the writer's refresh
 *   shared index    one index per server: the writer, the readers
 *   responses       the JSON error contract of SPEC §1.4
 *   access phase    one kg_decide per request
 *   bad requests    nginx's own 400s, answered through error_page
 *   readiness       keygate_status: does every worker serve every store
 *   variables       $keygate_decision, $keygate_key_id, $keygate_account,
 *                   $keygate_request_id
 *
 * Ownership: a key store named by keygate_db is opened once per path. The
 * master loads a snapshot while it reads the configuration (so `nginx -t`
 * fails on an unreadable store) and closes its connection. The workers
 * decide with one index per server, in a file beside the store that every
 * worker maps MAP_SHARED ("one index per server" below, docs/server.md):
 * one elected worker, the writer, opens the store (SQLite connections do
 * not survive fork), checks on a timer that the path still names the file
 * it has open and applies the keys written since its snapshot's change
 * sequence in place on that shared region, under the region's seqlock
 * (kg_store_refresh: what changed, not the whole store). A full load, when
 * one is needed (the file was replaced, the store is back after a failure,
 * too much changed, a new writer), runs on a thread, is copied into a new
 * file on a thread and published by its number in the store's shared zone.
 * The other workers, the readers, open no store: they map the published
 * file and decide under the seqlock. The cycle's pool cleanup frees
 * whatever snapshot and mappings are current; the master removes the
 * shared files when it stops.
 *
 * Never older data (SPEC §2): a worker whose keys were last confirmed (by
 * itself, or by the writer for the shared index) longer ago than
 * keygate_max_staleness, or whose store went back to an
 * older change sequence than any worker of this server has served (a shared
 * memory zone per store holds that sequence), answers 503
 * service_unavailable instead of deciding (docs/server.md).
 *
 * Every error body, status, WWW-Authenticate value and limit comes from
 * libkeygate (response.h, status.h, key.h): the module renders no JSON of
 * its own but the readiness answer. Decisions where nginx and the contract
 * meet are in docs/server.md.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "keygate/keygate.h"
#include "keygate/store.h"

/* ---- configuration ---------------------------------------------------- */

#define NGX_HTTP_KEYGATE_QUERY_REJECT 0
#define NGX_HTTP_KEYGATE_QUERY_IGNORE 1

/* At most this many Authorization/X-API-Key lines are handed to kg_decide:
 * three lines of two names already hold a name twice (ambiguous). */
#define NGX_HTTP_KEYGATE_MAX_FIELDS 8

/* One worker's word about one store, in the store's shared zone: the
 * worker of slot ngx_worker, pid, of configuration `generation`, serves
 * the store until serves_until_ms (CLOCK_MONOTONIC; 0: it serves nothing).
 * Written by that worker after every poll, cleared when it exits; read by
 * keygate_status. */
typedef struct {
  ngx_pid_t pid; /* 0: free */
  ngx_uint_t generation;
  int64_t serves_until_ms;
} ngx_http_keygate_slot_t;

/* The epochs left a shared zone remembers (ngx_http_keygate_shared_t). */
#define NGX_HTTP_KEYGATE_LEFT_MAX ((ngx_uint_t)2 * KG_STORE_LEFT_EPOCHS_MAX)

/* Which file a path named: device, inode and birth time (statx; 0 where
 * the file system keeps none), so an inode number reused by a new file is
 * another file. */
typedef struct {
  dev_t dev;
  ino_t ino;
  int64_t btime_sec;
  uint32_t btime_nsec;
} ngx_http_keygate_file_id_t;

/* What every worker of this server shares about one store (in a shared
 * memory zone, under its slab pool's mutex): the newest change sequence any
 * worker has served, and the epoch it belongs to; the configuration
 * generation (the master adds one at every start and reload); one slot per
 * worker. */
typedef struct {
  int64_t seq;
  uint64_t epoch;
  uint64_t mark; /* the store's history mark of seq; 0: not known */
  ngx_uint_t set;
  /* The epochs this server has left, newest last: one a worker served
   * before it served another (an ack-restore), and those each store
   * served had left (kg_snapshot_left_epochs). A file of one of them is
   * an older backup, from before such a restore: refused. */
  uint64_t left[NGX_HTTP_KEYGATE_LEFT_MAX];
  ngx_uint_t nleft;
  /* changes of the record above, and the last one PATH-served holds: the
   * writer writes it at every poll until they agree (review 75: a failed
   * write was never tried again) */
  ngx_uint_t record_changes;
  ngx_uint_t record_saved;
  ngx_uint_t generation;
  ngx_http_keygate_slot_t slot[NGX_MAX_PROCESSES];
  /* One index per server (docs/server.md): the one worker that reads the
   * store and writes the shared index, its configuration generation and
   * its last poll (CLOCK_MONOTONIC ms). Written under the mutex; the
   * fields readers look at per request (index_no, names_no, confirmed_ms,
   * refused) also with __atomic stores, so a reader loads them without
   * the mutex. */
  ngx_pid_t writer; /* 0: none yet, or it left */
  ngx_uint_t writer_generation;
  int64_t beat_ms;
  ngx_pid_t owner;      /* the master's pid: names this server's files */
  ngx_uint_t next_no;   /* the last file number handed out */
  ngx_uint_t index_no;  /* the published PATH-index.OWNER.N; 0: none */
  ngx_uint_t names_no;  /* the published PATH-names.OWNER.N; 0: none */
  int64_t confirmed_ms; /* when the published index last matched the store */
  ngx_uint_t refused;   /* the writer refuses the store (it went back) */
  /* What a new writer needs to adopt the published region instead of
   * loading the store whole (a reload, a writer killed): the region
   * lineage_no held every key write up to lineage_seq of lineage_epoch
   * when the writer last confirmed it against the store file (device,
   * inode) of lineage_dev/lineage_ino; 0: no region can be adopted. The
   * writer marks `writing` (its pid) while it changes the region in place:
   * a region whose writer left it so is never adopted. */
  ngx_uint_t lineage_no;
  int64_t lineage_seq;
  uint64_t lineage_epoch;
  uint64_t lineage_mark; /* the history mark of lineage_seq; 0: unknown */
  ngx_http_keygate_file_id_t lineage_file;
  ngx_pid_t writing;
  /* PATH-wal of a file the path no longer names, while it holds frames
   * (0: none): every writer refuses to read the store until it is gone,
   * also one that took the role after the replacement was seen */
  ino_t foreign_wal;
} ngx_http_keygate_shared_t;

/* What a server served of one store, kept in PATH-served across
 * restarts (docs/server.md, "What a server remembers"): the zone's record
 * as the writer last changed it. */
typedef struct {
  uint64_t epoch;
  int64_t seq;
  uint64_t mark;
  uint64_t left[NGX_HTTP_KEYGATE_LEFT_MAX];
  ngx_uint_t nleft;
  unsigned set : 1;
} ngx_http_keygate_record_t;

/* A file mapped by this process: a region (the shared index) or the
 * account names. */
typedef struct {
  void *addr; /* NULL: none */
  size_t len;
} ngx_http_keygate_map_t;

/* The account names file, PATH-names.OWNER.N: this header, count entries
 * (id, offset and length into the strings), then the strings. Written
 * whole by the writer, renamed into place, never changed after. */
typedef struct {
  uint64_t magic; /* NGX_HTTP_KEYGATE_NAMES_MAGIC */
  uint64_t count;
  uint64_t strings; /* bytes of strings after the entries */
} ngx_http_keygate_names_head_t;

typedef struct {
  uint64_t id;
  uint32_t off;
  uint32_t len;
} ngx_http_keygate_names_entry_t;

#define NGX_HTTP_KEYGATE_NAMES_MAGIC 0x31534d414e474bULL /* "KGNAMS1" */

/* A worker that finds the writer's last poll older than this many
 * keygate_refresh takes its place. */
#define NGX_HTTP_KEYGATE_WRITER_BEATS 3

/* A full load running on its own thread: the thread writes store, snap
 * and err, then sets done; the timer joins it. */
typedef struct {
  pthread_t thread;
  const char *path;
  const kg_pepper *pepper; /* keygate_pepper_file, or NULL */
  kg_store *store;
  kg_snapshot *snap;
  char err[KG_STORE_ERR_MAX + NGX_MAX_PATH];
  kg_store_error_kind kind; /* of err: the thread's, read there */
  int done;                 /* read and written with __atomic builtins */
  unsigned running : 1;
  /* a copy (copy = 1): the writer's current index, src, copied into a new
   * file tmp (a region), mapped afresh as map, with view attached */
  unsigned copy : 1;
  const kg_index *src;
  ngx_uint_t no;
  char tmp[NGX_MAX_PATH];
  ngx_http_keygate_map_t map;
  kg_index *view;
} ngx_http_keygate_job_t;

/* One key store, shared by every location that names its path. */
typedef struct {
  ngx_str_t path;          /* NUL-terminated */
  const kg_pepper *pepper; /* keygate_pepper_file, or NULL: a plain store */
  kg_snapshot *snap;       /* current snapshot; changed only between requests */
  kg_store *store;         /* this worker's connection; NULL in the master */
  ngx_log_t *log;
  ngx_shm_zone_t *zone;          /* data: this db; the zone holds sh */
  ngx_http_keygate_shared_t *sh; /* in the zone; NULL before it is mapped */
  ngx_uint_t generation;         /* this configuration's, from the zone */
  int64_t fresh_ms;              /* CLOCK_MONOTONIC ms when snap last matched */
  ngx_msec_t stale_at; /* ngx_current_msec from which snap is too old */
  int64_t seen_seq;    /* the newest sequence served (this worker or any) */
  uint64_t seen_epoch;
  uint64_t seen_mark;     /* the store's history mark of seen_seq; 0: unknown */
  unsigned refused : 1;   /* the store went backwards: answer 503 */
  ngx_uint_t refuse_why;  /* the verdict of the last refusal line */
  int64_t refuse_said_ms; /* when it was logged */
  /* the master's snapshot of a reload, while no poll of this worker has
   * judged it against what the server served: too old to answer with */
  unsigned unconfirmed : 1;
  unsigned opened : 1;     /* this worker opened the store once */
  unsigned stale_said : 1; /* "answering 503" logged for this failure */
  ino_t foreign_wal;       /* PATH-wal of the replaced file (0: none) */
  ngx_http_keygate_job_t job;
  /* one index per server */
  unsigned writer : 1;         /* this worker is the elected writer */
  unsigned reader_stale : 1;   /* a reader said "503: too old" */
  ngx_msec_t max_staleness;    /* keygate_max_staleness, for readers */
  ngx_http_keygate_map_t wmap; /* the writer's region: snap's index wview */
  kg_index *wview;
  ngx_uint_t wno;              /* its number */
  ngx_http_keygate_map_t rmap; /* a reader's map of the published index */
  kg_index *rview;
  ngx_uint_t rno;
  ngx_http_keygate_map_t nmap; /* the published account names */
  ngx_uint_t nno;
  const kg_snapshot *names_snap; /* the writer: names published of it, */
  size_t names_count;            /* this many */
  int64_t publish_said_ms;       /* the last "cannot publish" line */
  int64_t names_said_ms;         /* the last "cannot write the names" line */
  ngx_uint_t names_failed;       /* failures since that line */
  /* The master's snapshot (or its index), once this worker stops deciding
   * with it: kept, not freed, since freeing wipes it and so copies every
   * page fork shares with the master; freed with the cycle. */
  kg_snapshot *master_snap;
  kg_index *master_index;
  const char *took_why; /* why this worker took the writer's role */
  /* the published region this worker may adopt (it just took the role
   * from a writer that left the region whole; 0: none), as the zone's
   * lineage said then */
  ngx_uint_t adopt_no;
  int64_t adopt_seq;
  uint64_t adopt_epoch;
  uint64_t adopt_mark;
  ngx_http_keygate_record_t record; /* PATH-served as configuration read it */
  const char *record_bad; /* why PATH-served was left out (NULL: it was not) */
  ngx_err_t record_errno;
  int64_t record_said_ms; /* the last "cannot keep" line */
  ngx_http_keygate_file_id_t adopt_file;
  ngx_http_keygate_file_id_t poll_file; /* the store's path as a poll began */
  unsigned poll_file_ok : 1;
  unsigned snap_is_master : 1; /* snap is the master's snapshot */
  /* failures, logged once and then once a minute */
  ngx_uint_t failures;   /* consecutive failed polls */
  ngx_uint_t unsaid;     /* failed polls since the last line */
  int64_t fail_since_ms; /* CLOCK_MONOTONIC */
  int64_t said_ms;
} ngx_http_keygate_db_t;

typedef struct {
  ngx_array_t dbs; /* of ngx_http_keygate_db_t *, one per distinct path */
  ngx_msec_t refresh;
  ngx_msec_t max_staleness;
  kg_digester *digester; /* one per process: workers are single-threaded */
  kg_pepper *pepper;     /* keygate_pepper_file, or NULL; wiped with the pool */
  ngx_event_t timer;
  ngx_flag_t verbose_error_log; /* accept an error_log at info or debug */
  unsigned status : 1;          /* a keygate_status location exists */
} ngx_http_keygate_main_conf_t;

typedef struct {
  ngx_flag_t enable;
  ngx_http_keygate_db_t *db;
  ngx_str_t realm;
  /* WWW-Authenticate per decision (kg_decision_index); empty for a
   * decision without a challenge */
  ngx_str_t www[KG_DECISION_COUNT];
  ngx_uint_t query_keys;
  ngx_flag_t hide_credentials;
  ngx_flag_t request_id_header;
  kg_key_policy policy;
  ngx_flag_t policy_set;
} ngx_http_keygate_loc_conf_t;

/* Per request. An internal redirect clears every module's context, so this
 * one also lives in a pool cleanup record of the request and is found
 * there again (ngx_http_keygate_find_ctx): the decision outlives
 * try_files, error_page, index and X-Accel-Redirect. The request id and
 * the key id's text are made on first use: a valid request whose log does
 * not show them pays for neither. */
typedef struct {
  ngx_http_request_t *request;     /* the owner (subrequests share a pool) */
  const ngx_http_keygate_db_t *db; /* the store that decided */
  kg_status decision;              /* KG_OK: not decided yet */
  unsigned found : 1;              /* a record matched: key_id is set */
  unsigned hidden : 1;             /* key lines removed from the request */
  unsigned target_set : 1;         /* target holds the request-target */
  unsigned redacted : 1;           /* the request line was redacted */
  unsigned masked : 1; /* every field line's keys masked (not the key lines') */
  ngx_list_t before_hide; /* the list as nginx made it, once
                           * ngx_http_keygate_hide rebuilt it (nelts 0: not) */
  ngx_str_t target;       /* the request-target as sent, before any redaction */
  ngx_str_t host_sent;    /* a Host that held a key, as sent (then masked);
                           * escaped past two levels, the level that shows it */
  ngx_str_t referer_sent; /* the same for Referer */
  uint64_t key_id;
  ngx_str_t account;
  char request_id[KG_REQUEST_ID_LEN + 1]; /* "" until made */
  char key_id_text[KG_KEY_ID_STR_LEN];    /* "" until made */
  int64_t busy_since_ms; /* the first try that found the table mid-change */
  /* keygate_bad_request: the rest of a request line too long, read from
   * the socket (ngx_http_keygate_recover_line) */
  u_char *line;
  u_char *line_end;
  u_char *line_last; /* the buffer's end */
  ngx_uint_t bad_status;
} ngx_http_keygate_ctx_t;

static ngx_int_t ngx_http_keygate_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_keygate_init(ngx_conf_t *cf);
static void *ngx_http_keygate_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_keygate_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_keygate_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_keygate_merge_loc_conf(ngx_conf_t *cf, void *parent,
                                             void *child);
static char *ngx_http_keygate_db(ngx_conf_t *cf, ngx_command_t *cmd,
                                 void *conf);
static char *ngx_http_keygate_pepper_file(ngx_conf_t *cf, ngx_command_t *cmd,
                                          void *conf);
static char *ngx_http_keygate_realm(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf);
static char *ngx_http_keygate_key_format(ngx_conf_t *cf, ngx_command_t *cmd,
                                         void *conf);
static char *ngx_http_keygate_bad_request(ngx_conf_t *cf, ngx_command_t *cmd,
                                          void *conf);
static char *ngx_http_keygate_status(ngx_conf_t *cf, ngx_command_t *cmd,
                                     void *conf);
static ngx_int_t ngx_http_keygate_init_process(ngx_cycle_t *cycle);
static void ngx_http_keygate_exit_process(ngx_cycle_t *cycle);
static void ngx_http_keygate_exit_master(ngx_cycle_t *cycle);

static ngx_conf_enum_t ngx_http_keygate_query_keys_values[] = {
    {ngx_string("reject"), NGX_HTTP_KEYGATE_QUERY_REJECT},
    {ngx_string("ignore"), NGX_HTTP_KEYGATE_QUERY_IGNORE},
    {ngx_null_string, 0}};

static ngx_command_t ngx_http_keygate_commands[] = {
    {ngx_string("keygate"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_keygate_loc_conf_t, enable), NULL},
    {ngx_string("keygate_db"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_http_keygate_db, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("keygate_realm"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_http_keygate_realm, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("keygate_query_keys"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE1,
     ngx_conf_set_enum_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_keygate_loc_conf_t, query_keys),
     &ngx_http_keygate_query_keys_values},
    {ngx_string("keygate_hide_credentials"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_keygate_loc_conf_t, hide_credentials), NULL},
    {ngx_string("keygate_request_id_header"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_LOC_CONF_OFFSET,
     offsetof(ngx_http_keygate_loc_conf_t, request_id_header), NULL},
    {ngx_string("keygate_key_format"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF |
         NGX_CONF_TAKE2,
     ngx_http_keygate_key_format, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("keygate_verbose_error_log"),
     NGX_HTTP_MAIN_CONF | NGX_CONF_FLAG, ngx_conf_set_flag_slot,
     NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_keygate_main_conf_t, verbose_error_log), NULL},
    {ngx_string("keygate_refresh"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_keygate_main_conf_t, refresh), NULL},
    {ngx_string("keygate_max_staleness"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_http_keygate_main_conf_t, max_staleness), NULL},
    {ngx_string("keygate_pepper_file"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_http_keygate_pepper_file, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("keygate_bad_request"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_keygate_bad_request, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("keygate_status"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_keygate_status, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_keygate_module_ctx = {
    ngx_http_keygate_add_variables,    /* preconfiguration */
    ngx_http_keygate_init,             /* postconfiguration */
    ngx_http_keygate_create_main_conf, /* create main configuration */
    ngx_http_keygate_init_main_conf,   /* init main configuration */
    NULL,                              /* create server configuration */
    NULL,                              /* merge server configuration */
    ngx_http_keygate_create_loc_conf,  /* create location configuration */
    ngx_http_keygate_merge_loc_conf    /* merge location configuration */
};

ngx_module_t ngx_http_keygate_module = {NGX_MODULE_V1,
                                        &ngx_http_keygate_module_ctx,
                                        ngx_http_keygate_commands,
                                        NGX_HTTP_MODULE,
                                        NULL, /* init master */
                                        NULL, /* init module */
                                        ngx_http_keygate_init_process,
                                        NULL, /* init thread */
                                        NULL, /* exit thread */
                                        ngx_http_keygate_exit_process,
                                        ngx_http_keygate_exit_master,
                                        NGX_MODULE_V1_PADDING};

/* Wait for a full load still running and drop what it made. */
static void ngx_http_keygate_job_reap(ngx_http_keygate_job_t *job) {
  if (!job->running) {
    return;
  }
  (void)pthread_join(job->thread, NULL);
  job->running = 0;
  kg_snapshot_free(job->snap);
  job->snap = NULL;
  kg_store_close(job->store);
  job->store = NULL;
  if (job->copy) {
    kg_index_free(job->view);
    job->view = NULL;
    if (job->map.addr != NULL) {
      (void)munmap(job->map.addr, job->map.len);
      job->map.addr = NULL;
      (void)unlink(job->tmp);
    }
  }
}

/* Free the snapshot current when the cycle goes (reload in the master,
 * exit in a worker) and close this process's connection. */
static void ngx_http_keygate_db_cleanup(void *data) {
  ngx_http_keygate_db_t *db = data;
  ngx_http_keygate_job_reap(&db->job);
  kg_snapshot_free(db->snap);
  db->snap = NULL;
  kg_snapshot_free(db->master_snap);
  db->master_snap = NULL;
  kg_index_free(db->master_index);
  db->master_index = NULL;
  kg_store_close(db->store);
  db->store = NULL;
  db->wview = NULL; /* freed with the snapshot */
  if (db->wmap.addr != NULL) {
    (void)munmap(db->wmap.addr, db->wmap.len);
    db->wmap.addr = NULL;
  }
  kg_index_free(db->rview);
  db->rview = NULL;
  if (db->rmap.addr != NULL) {
    (void)munmap(db->rmap.addr, db->rmap.len);
    db->rmap.addr = NULL;
  }
  if (db->nmap.addr != NULL) {
    (void)munmap(db->nmap.addr, db->nmap.len);
    db->nmap.addr = NULL;
  }
}

static void ngx_http_keygate_digester_cleanup(void *data) {
  ngx_http_keygate_main_conf_t *mcf = data;
  kg_digester_free(mcf->digester);
  mcf->digester = NULL;
}

static void *ngx_http_keygate_create_main_conf(ngx_conf_t *cf) {
  ngx_http_keygate_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof(*mcf));
  if (mcf == NULL) {
    return NULL;
  }
  if (ngx_array_init(&mcf->dbs, cf->pool, 2, sizeof(ngx_http_keygate_db_t *)) !=
      NGX_OK) {
    return NULL;
  }
  mcf->refresh = NGX_CONF_UNSET_MSEC;
  mcf->max_staleness = NGX_CONF_UNSET_MSEC;
  mcf->verbose_error_log = NGX_CONF_UNSET;
  return mcf;
}

static char *ngx_http_keygate_init_main_conf(ngx_conf_t *cf, void *conf) {
  ngx_http_keygate_main_conf_t *mcf = conf;
  ngx_conf_init_msec_value(mcf->refresh, 500);
  if (mcf->refresh < 100) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "keygate_refresh must be at least 100ms");
    return NGX_CONF_ERROR;
  }
  /* SPEC §2: a deletion is seen within 2 s, so by default a snapshot no
   * poll has confirmed for 2 s (or two polls, when they are further
   * apart) is not answered from. */
  ngx_conf_init_msec_value(mcf->max_staleness,
                           2 * mcf->refresh > 2000 ? 2 * mcf->refresh : 2000);
  if (mcf->max_staleness < 2 * mcf->refresh) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "keygate_max_staleness must be at least twice "
                       "keygate_refresh (%M ms)",
                       mcf->refresh);
    return NGX_CONF_ERROR;
  }
  return NGX_CONF_OK;
}

static void *ngx_http_keygate_create_loc_conf(ngx_conf_t *cf) {
  ngx_http_keygate_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof(*lcf));
  if (lcf == NULL) {
    return NULL;
  }
  lcf->enable = NGX_CONF_UNSET;
  lcf->db = NGX_CONF_UNSET_PTR;
  lcf->query_keys = NGX_CONF_UNSET_UINT;
  lcf->hide_credentials = NGX_CONF_UNSET;
  lcf->request_id_header = NGX_CONF_UNSET;
  lcf->policy_set = NGX_CONF_UNSET;
  return lcf;
}

static char *ngx_http_keygate_merge_loc_conf(ngx_conf_t *cf, void *parent,
                                             void *child) {
  ngx_http_keygate_loc_conf_t *prev = parent;
  ngx_http_keygate_loc_conf_t *conf = child;

  ngx_conf_merge_value(conf->enable, prev->enable, 0);
  ngx_conf_merge_ptr_value(conf->db, prev->db, NULL);
  ngx_conf_merge_str_value(conf->realm, prev->realm, KG_DEFAULT_REALM);
  ngx_conf_merge_uint_value(conf->query_keys, prev->query_keys,
                            NGX_HTTP_KEYGATE_QUERY_REJECT);
  ngx_conf_merge_value(conf->hide_credentials, prev->hide_credentials, 0);
  ngx_conf_merge_value(conf->request_id_header, prev->request_id_header, 0);
  if (conf->policy_set == NGX_CONF_UNSET) {
    if (prev->policy_set == 1) {
      conf->policy = prev->policy;
    } else if (kg_key_policy_init(&conf->policy, KG_KEY_STRICT, "sk_live_",
                                  sizeof("sk_live_") - 1) != KG_OK) {
      return NGX_CONF_ERROR;
    }
    conf->policy_set = 1;
  }
  for (size_t i = 0; i < KG_DECISION_COUNT; i++) {
    char buf[KG_WWW_AUTHENTICATE_MAX];
    size_t len = 0;
    if (kg_www_authenticate(kg_decision_at(i), (const char *)conf->realm.data,
                            conf->realm.len, buf, sizeof buf, &len) != KG_OK) {
      return NGX_CONF_ERROR;
    }
    conf->www[i].len = len;
    conf->www[i].data = NULL;
    if (len > 0) {
      conf->www[i].data = ngx_pnalloc(cf->pool, len);
      if (conf->www[i].data == NULL) {
        return NGX_CONF_ERROR;
      }
      ngx_memcpy(conf->www[i].data, buf, len);
    }
  }
  if (conf->enable && conf->db == NULL) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"keygate on\" needs a \"keygate_db\" in scope");
    return NGX_CONF_ERROR;
  }
  return NGX_CONF_OK;
}

/* ---- snapshots ----------------------------------------------------------- */

/* CLOCK_MONOTONIC in milliseconds: one clock for the master (which loads
 * at configuration time) and its workers (which inherit that snapshot). */
static int64_t ngx_http_keygate_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The zone of one store (master, every start and reload). zone->data is
 * this configuration's db, data the previous configuration's (a reload:
 * the zone and what it says live on). Either way the configuration gets a
 * new generation: keygate_status counts only the workers of the newest. */
/* A new server (a fresh zone, in the master): remove the shared files a
 * master that no longer runs left beside the store (killed -9: it could
 * not remove them), PATH-index.PID.N and PATH-names.PID.N (and .tmp). A
 * pid that runs (another server on the same store) keeps its files. */
static void ngx_http_keygate_sweep(const ngx_http_keygate_db_t *db) {
  char dir[NGX_MAX_PATH];
  const char *path = (const char *)db->path.data;
  const char *slash = strrchr(path, '/');
  if (slash == NULL || (size_t)(slash - path) + 1 > sizeof dir) {
    return;
  }
  const size_t dlen = slash == path ? 1 : (size_t)(slash - path);
  ngx_memcpy(dir, path, dlen);
  dir[dlen] = '\0';
  const char *base = slash + 1;
  const size_t blen = ngx_strlen(base);
  DIR *d = opendir(dir);
  if (d == NULL) {
    return;
  }
  const struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    if (ngx_strncmp(n, base, blen) != 0 ||
        (ngx_strncmp(n + blen, "-index.", 7) != 0 &&
         ngx_strncmp(n + blen, "-names.", 7) != 0)) {
      continue;
    }
    char *end = NULL;
    const long pid = strtol(n + blen + 7, &end, 10);
    if (pid <= 0 || end == NULL || *end != '.' || pid == (long)ngx_pid ||
        kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
      continue;
    }
    char full[NGX_MAX_PATH];
    const int len = snprintf(full, sizeof full, "%s/%s",
                             dlen == 1 && dir[0] == '/' ? "" : dir, n);
    if (len > 0 && (size_t)len < sizeof full && unlink(full) == 0) {
      ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                    "keygate: removed %s, left by a server that no longer "
                    "runs",
                    full);
    }
  }
  (void)closedir(d);
}

/* ---- what a server served, across restarts (PATH-served) ------------- */

/* The text of a record: its own lines, each "name value". */
#define NGX_HTTP_KEYGATE_RECORD_MAGIC "keygate-served 1"
#define NGX_HTTP_KEYGATE_RECORD_MAX                                            \
  (64 + 3 * 32 + NGX_HTTP_KEYGATE_LEFT_MAX * 17)

/* One number of a record at p: digits of base only (no sign, no space),
 * up to the end of the line; 0, or -1. */
static int ngx_http_keygate_record_num(const char *p, int base, uint64_t *v) {
  /* an epoch is 16 hex digits, as written (review 76: a record cut inside
   * one read as a shorter number); a decimal is digits only */
  size_t n = 0;
  while (base == 16 ? isxdigit((unsigned char)p[n])
                    : isdigit((unsigned char)p[n])) {
    n++;
  }
  if (p[n] != '\0' || n == 0 || (base == 16 && n != 16) || n > 20) {
    return -1;
  }
  char *end = NULL;
  errno = 0;
  *v = strtoull(p, &end, base);
  return errno == 0 && *end == '\0' ? 0 : -1;
}

/* Parse buf (NUL-terminated, changed) into r: every line, once, as
 * ngx_http_keygate_record_save writes them. 0, or -1 for anything else. */
static int ngx_http_keygate_record_parse(char *buf,
                                         ngx_http_keygate_record_t *r) {
  ngx_memzero(r, sizeof *r);
  if (strstr(buf, "\n\n") != NULL ||
      strncmp(buf, NGX_HTTP_KEYGATE_RECORD_MAGIC "\n",
              sizeof NGX_HTTP_KEYGATE_RECORD_MAGIC) != 0) {
    return -1; /* no blank line, the magic first */
  }
  unsigned got = 0;
  char *save = NULL;
  for (char *line = strtok_r(buf, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    uint64_t v = 0;
    unsigned bit;
    int bad = 0;
    if (got == 0) {
      bit = 1;
      bad = strcmp(line, NGX_HTTP_KEYGATE_RECORD_MAGIC) != 0;
    } else if (strncmp(line, "epoch ", 6) == 0) {
      bit = 2;
      bad = ngx_http_keygate_record_num(line + 6, 16, &r->epoch) != 0;
    } else if (strncmp(line, "seq ", 4) == 0) {
      bit = 4;
      bad = ngx_http_keygate_record_num(line + 4, 10, &v) != 0 ||
            v > (uint64_t)INT64_MAX;
      r->seq = (int64_t)v;
    } else if (strncmp(line, "mark ", 5) == 0) {
      bit = 8;
      bad = ngx_http_keygate_record_num(line + 5, 10, &r->mark) != 0;
    } else if (strncmp(line, "left", 4) == 0 &&
               (line[4] == '\0' || line[4] == ' ')) {
      bit = 16;
      for (char *p = line + 4; *p != '\0' && !bad;) {
        char *tok = p + 1;
        char *sp = strchr(tok, ' ');
        if (sp != NULL) {
          *sp = '\0';
        }
        bad = r->nleft == NGX_HTTP_KEYGATE_LEFT_MAX ||
              ngx_http_keygate_record_num(tok, 16, &r->left[r->nleft]) != 0;
        r->nleft++;
        p = sp != NULL ? (*sp = ' ', sp) : tok + strlen(tok);
      }
    } else {
      return -1;
    }
    if (bad || (got & bit)) {
      return -1;
    }
    got |= bit;
  }
  if (got != 31) {
    return -1;
  }
  r->set = 1;
  return 0;
}

/* Configuration time: read PATH-served into db->record (none: no file).
 * A file that is not a record is said and left out: the server then
 * starts from the store as it finds it, as with no record. */
static void ngx_http_keygate_record_read(ngx_conf_t *cf,
                                         ngx_http_keygate_db_t *db) {
  char name[NGX_MAX_PATH];
  char buf[NGX_HTTP_KEYGATE_RECORD_MAX + 2];
  db->record.set = 0;
  db->record_bad = NULL;
  if (ngx_snprintf((u_char *)name, sizeof name - 1, "%V-served%Z", &db->path) ==
      (u_char *)name + sizeof name - 1) {
    return;
  }
  const int fd = open(name, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) {
    /* none: no record; anything else (unreadable, a dangling link) is
     * said, here and in the error log when the zone starts from nothing */
    if (errno != ENOENT || lstat(name, &sb) == 0) {
      db->record_errno = ngx_errno;
      db->record_bad = "cannot be read";
      ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                         "keygate_db \"%V\": cannot read %s: the server "
                         "starts from the store as it finds it",
                         &db->path, name);
    }
    return;
  }
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  const ngx_err_t rerr = n < 0 ? ngx_errno : 0;
  close(fd);
  /* whole: written with a last newline and no NUL (a file cut short, by a
   * power cut before its data reached the disk, is damaged: review 76) */
  if (n <= 0 || (size_t)n >= sizeof buf - 1 || buf[n - 1] != '\n' ||
      memchr(buf, '\0', (size_t)n) != NULL ||
      (buf[n] = '\0', ngx_http_keygate_record_parse(buf, &db->record) != 0)) {
    db->record.set = 0;
    db->record_errno = rerr;
    db->record_bad = "is not a record of what a server served (damaged?)";
    ngx_conf_log_error(NGX_LOG_WARN, cf, rerr,
                       "keygate_db \"%V\": %s is not a record of what a "
                       "server served (damaged?): left out, the server "
                       "starts from the store as it finds it",
                       &db->path, name);
  }
}

/* The writer, after every poll: when the zone's record changed since
 * PATH-served last took it, write it there (a new file renamed into
 * place). A failure is said once a minute and tried again at the next
 * poll; the server serves on. */
static void ngx_http_keygate_record_save(ngx_http_keygate_db_t *db) {
  ngx_http_keygate_record_t r;
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_shmtx_lock(&shpool->mutex);
  const ngx_uint_t version = db->sh->record_changes;
  if (version == db->sh->record_saved || !db->sh->set) {
    ngx_shmtx_unlock(&shpool->mutex);
    return;
  }
  r.epoch = db->sh->epoch;
  r.seq = db->sh->seq;
  r.mark = db->sh->mark;
  r.nleft = db->sh->nleft;
  ngx_memcpy(r.left, db->sh->left, sizeof r.left);
  ngx_shmtx_unlock(&shpool->mutex);
  char buf[NGX_HTTP_KEYGATE_RECORD_MAX];
  size_t len =
      (size_t)snprintf(buf, sizeof buf,
                       NGX_HTTP_KEYGATE_RECORD_MAGIC "\nepoch %016llx\nseq "
                                                     "%lld\nmark %llu\nleft",
                       (unsigned long long)r.epoch, (long long)r.seq,
                       (unsigned long long)r.mark);
  for (ngx_uint_t i = 0; i < r.nleft; i++) {
    len += (size_t)snprintf(buf + len, sizeof buf - len, " %016llx",
                            (unsigned long long)r.left[i]);
  }
  len += (size_t)snprintf(buf + len, sizeof buf - len, "\n");
  char name[NGX_MAX_PATH], tmp[NGX_MAX_PATH];
  const int ok =
      snprintf(name, sizeof name, "%s-served", (const char *)db->path.data) <
          (int)sizeof name &&
      snprintf(tmp, sizeof tmp, "%s-served.tmp.%ld",
               (const char *)db->path.data, (long)ngx_pid) < (int)sizeof tmp;
  if (ok) {
    (void)unlink(tmp); /* one a crash left: made anew, never followed */
  }
  int fd =
      ok ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)
         : -1;
  int err = fd < 0 ? (ok ? errno : ENAMETOOLONG) : 0;
  if (fd >= 0) {
    /* on the disk before it is renamed into place: a power cut leaves the
     * old record or the new one, never one cut short (review 76) */
    errno = 0;
    const int wrote = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;
    err = wrote ? 0 : errno != 0 ? errno : EIO;
    if (close(fd) != 0 && err == 0) {
      err = errno;
    }
    int stale = 0;
    if (err == 0) {
      /* renamed under the zone's lock, by the writer, only when no newer
       * record was written meanwhile (review 76: an old writer's rename
       * could land after a newer one, the counters saying saved) */
      ngx_shmtx_lock(&shpool->mutex);
      stale = db->sh->writer != ngx_pid || version < db->sh->record_saved;
      if (!stale && rename(tmp, name) != 0) {
        err = errno;
      } else if (!stale) {
        db->sh->record_saved = version;
      }
      ngx_shmtx_unlock(&shpool->mutex);
    }
    if (err != 0 || stale) {
      (void)unlink(tmp);
    }
  }
  if (err == 0) {
    return;
  }
  const int64_t now = ngx_http_keygate_now_ms();
  if (now - db->record_said_ms >= 60000) {
    db->record_said_ms = now;
    ngx_log_error(NGX_LOG_ERR, db->log, err,
                  "keygate: cannot keep what this server served of \"%V\" "
                  "(change sequence %L) in %V-served; it serves on and "
                  "tries again at every poll; a restart before then knows "
                  "only what that file held",
                  &db->path, (long long)r.seq, &db->path);
  }
}

static ngx_int_t ngx_http_keygate_zone_init(ngx_shm_zone_t *zone, void *data) {
  ngx_http_keygate_db_t *db = zone->data;
  ngx_http_keygate_db_t *odb = data;
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
  if (odb != NULL) {
    db->sh = odb->sh;
  } else {
    db->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_keygate_shared_t));
    if (db->sh == NULL) {
      return NGX_ERROR;
    }
  }
  ngx_shmtx_lock(&shpool->mutex);
  db->generation = ++db->sh->generation;
  const int say_bad = !db->sh->set && db->record_bad != NULL;
  if (!db->sh->set && db->record.set) {
    /* a start: what the server served before it stopped (PATH-served) */
    ngx_http_keygate_shared_t *sh = db->sh;
    sh->epoch = db->record.epoch;
    sh->seq = db->record.seq;
    sh->mark = db->record.mark;
    sh->nleft = db->record.nleft;
    ngx_memcpy(sh->left, db->record.left, sizeof sh->left);
    sh->set = 1;
  }
  /* A reload (or a start with a record): the master's snapshot (read at
   * configuration time) is not yet judged against what the server served; until
   * a worker's poll does, it is too old to answer with (review 73: a first poll
   * that failed served it for keygate_max_staleness). */
  db->unconfirmed = db->snap != NULL && db->sh->set;
  const int fresh = db->sh->owner == 0;
  if (fresh) {
    db->sh->owner = ngx_pid; /* the master: names the shared files */
  }
  ngx_shmtx_unlock(&shpool->mutex);
  if (say_bad) {
    /* the configuration's warning goes to nginx's stderr, which keygate
     * serve keeps in a folder it removes (review 75): said here too, in
     * the new configuration's error log, outside the zone's lock */
    ngx_log_error(NGX_LOG_ALERT, zone->shm.log, db->record_errno,
                  "keygate: %V-served %s: left out, this start trusts the "
                  "store as it finds it (an older backup put back while "
                  "the server was stopped is served); the writer writes a "
                  "new record",
                  &db->path, db->record_bad);
  }
  if (fresh) {
    ngx_http_keygate_sweep(db);
  }
  return NGX_OK;
}

/*
 * What an operator does about a store error of kind `kind`, in nginx's
 * terms: the store's line says what is wrong, this the fix, written after
 * it ("; ..."), into buf (capacity cap, NUL-terminated). "" for a kind
 * with no fix of the module's (the line says all). One place for the
 * module's fixes: the configuration's lines and the writer's use it.
 * `keygate serve` opens the store itself before nginx starts: its lines
 * are the command line's (cli_store_fix).
 */
static const char *ngx_http_keygate_store_fix(kg_store_error_kind kind,
                                              const ngx_str_t *path, char *buf,
                                              size_t cap) {
  const char *fix = NULL;
  switch (kind) {
  case KG_STORE_E_NO_STORE:
    *ngx_snprintf((u_char *)buf, cap - 1,
                  "; create it with 'keygate accounts create NAME --db %V'",
                  path) = '\0';
    return buf;
  case KG_STORE_E_NOT_A_STORE:
    fix = "; point keygate_db at a keygate store";
    break;
  case KG_STORE_E_NEEDS_MIGRATION:
    fix = "; run any 'keygate keys' command on it once to migrate it";
    break;
  case KG_STORE_E_PEPPER_NEEDED:
    fix = "; name its pepper file with keygate_pepper_file";
    break;
  case KG_STORE_E_PEPPER_UNWANTED:
    fix = "; remove keygate_pepper_file, or make a new peppered store "
          "(docs/store.md)";
    break;
  case KG_STORE_E_PEPPER_WRONG:
    fix = "; give keygate_pepper_file the file it was made with";
    break;
  case KG_STORE_E_OTHER:
  case KG_STORE_E_NO_ACCOUNT: /* the module reads whole stores only */
  case KG_STORE_E_NO_KEY:
  case KG_STORE_E_KEY_GONE:
  default:
    return "";
  }
  ngx_cpystrn((u_char *)buf, (u_char *)fix, cap);
  return buf;
}

/* Open the store at db->path read-only and load a snapshot into *snap.
 * Keeps the connection in *store when store is not NULL, else closes it.
 * Returns NGX_OK, or NGX_ERROR with one line in err. */
static ngx_int_t ngx_http_keygate_load(ngx_http_keygate_db_t *db,
                                       kg_store **store, kg_snapshot **snap,
                                       char *err, size_t errcap) {
  kg_store *s = NULL;
  if (kg_store_open_peppered((const char *)db->path.data, KG_STORE_READONLY,
                             db->pepper, &s, err, errcap) != 0) {
    return NGX_ERROR;
  }
  if (kg_store_load(s, snap, err, errcap) != 0) {
    kg_store_close(s);
    return NGX_ERROR;
  }
  if (store != NULL) {
    *store = s;
  } else {
    kg_store_close(s);
  }
  return NGX_OK;
}

/* The master at a reload: 1 when the running server publishes a shared
 * index of this store (the previous configuration's zone named zname says
 * so); its new workers then take that index over instead of loading. 0 at
 * the start, for `nginx -t`, and when nothing is published. */
static int ngx_http_keygate_published(ngx_conf_t *cf, const ngx_str_t *zname) {
  const ngx_cycle_t *old = cf->cycle->old_cycle;
  if (old == NULL || ngx_is_init_cycle(old)) {
    return 0;
  }
  const ngx_list_part_t *part = &old->shared_memory.part;
  const ngx_shm_zone_t *z = part->elts;
  for (ngx_uint_t i = 0;; i++) {
    if (i >= part->nelts) {
      if (part->next == NULL) {
        return 0;
      }
      part = part->next;
      z = part->elts;
      i = 0;
      if (part->nelts == 0) {
        continue;
      }
    }
    if (z[i].tag != &ngx_http_keygate_module ||
        z[i].shm.name.len != zname->len ||
        ngx_strncmp(z[i].shm.name.data, zname->data, zname->len) != 0) {
      continue;
    }
    const ngx_http_keygate_db_t *odb = z[i].data;
    if (odb == NULL || odb->sh == NULL) {
      return 0;
    }
    return __atomic_load_n(&odb->sh->index_no, __ATOMIC_ACQUIRE) != 0;
  }
}

/* Open the store at db->path read-only and read its change sequence and
 * epoch (the store, its schema and its pepper checked; no key read) into
 * db->seen_seq and db->seen_epoch. NGX_OK, or NGX_ERROR with err. */
static ngx_int_t ngx_http_keygate_head(ngx_http_keygate_db_t *db, char *err,
                                       size_t errcap) {
  kg_store *s = NULL;
  if (kg_store_open_peppered((const char *)db->path.data, KG_STORE_READONLY,
                             db->pepper, &s, err, errcap) != 0) {
    return NGX_ERROR;
  }
  int64_t seq = 0;
  uint64_t epoch = 0, mark = 0;
  const int rc = kg_store_head(s, &seq, &epoch, err, errcap) != 0 ||
                 kg_store_marks(s, &seq, &mark, 1, err, errcap) != 0;
  kg_store_close(s);
  if (rc != 0) {
    return NGX_ERROR;
  }
  db->seen_seq = seq;
  db->seen_epoch = epoch;
  db->seen_mark = mark;
  return NGX_OK;
}

/* keygate_db PATH — name the store; the first mention of a path loads it
 * (master, configuration time), so a bad path fails `nginx -t`; a reload
 * of a server that publishes its index only opens and checks it. */
static char *ngx_http_keygate_db(ngx_conf_t *cf, ngx_command_t *cmd,
                                 void *conf) {
  ngx_http_keygate_loc_conf_t *lcf = conf;
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_conf_get_module_main_conf(cf, ngx_http_keygate_module);
  ngx_str_t *value = cf->args->elts;
  ngx_str_t path = value[1];
  (void)cmd;

  if (lcf->db != NGX_CONF_UNSET_PTR) {
    return "is duplicate";
  }
  if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
    return NGX_CONF_ERROR;
  }
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    if (dbs[i]->path.len == path.len &&
        ngx_strncmp(dbs[i]->path.data, path.data, path.len) == 0) {
      lcf->db = dbs[i];
      return NGX_CONF_OK;
    }
  }

  ngx_http_keygate_db_t *db = ngx_pcalloc(cf->pool, sizeof(*db));
  if (db == NULL) {
    return NGX_CONF_ERROR;
  }
  db->path.data = ngx_pnalloc(cf->pool, path.len + 1);
  if (db->path.data == NULL) {
    return NGX_CONF_ERROR;
  }
  ngx_memcpy(db->path.data, path.data, path.len);
  db->path.data[path.len] = '\0';
  db->path.len = path.len;
  db->pepper = mcf->pepper;
  db->log = cf->cycle->log;

  ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
  if (cln == NULL) {
    return NGX_CONF_ERROR;
  }
  cln->handler = ngx_http_keygate_db_cleanup;
  cln->data = db;

  /* One zone per store path, named after it, so a reload finds the
   * sequence the previous workers served. */
  ngx_str_t zname;
  zname.len = sizeof("keygate:") - 1 + db->path.len;
  zname.data = ngx_pnalloc(cf->pool, zname.len);
  if (zname.data == NULL) {
    return NGX_CONF_ERROR;
  }
  ngx_memcpy(ngx_cpymem(zname.data, "keygate:", sizeof("keygate:") - 1),
             db->path.data, db->path.len);

  if (ngx_process == NGX_PROCESS_SIGNALLER) {
    /* `nginx -s reload`: that process only reads the pid file's path */
    goto zone;
  }
  char err[KG_STORE_ERR_MAX];
  ngx_int_t rc;
  if (ngx_http_keygate_published(cf, &zname)) {
    /* A reload of a server that publishes this store's index: its workers
     * take that index over (docs/server.md), so the store is only opened
     * and checked here, not loaded whole beside the running workers. */
    rc = ngx_http_keygate_head(db, err, sizeof err);
  } else {
    rc = ngx_http_keygate_load(db, NULL, &db->snap, err, sizeof err);
    db->snap_is_master = 1;
    if (rc == NGX_OK) {
      db->seen_seq = kg_snapshot_seq(db->snap);
      db->seen_epoch = kg_snapshot_epoch(db->snap);
      db->seen_mark = kg_snapshot_mark(db->snap);
    }
  }
  if (rc != NGX_OK) {
    char fix[NGX_MAX_PATH + 96];
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "keygate_db \"%V\": cannot load the key store: %s%s",
                       &db->path, err,
                       ngx_http_keygate_store_fix(kg_store_last_error_kind(),
                                                  &db->path, fix, sizeof fix));
    return NGX_CONF_ERROR;
  }
  db->fresh_ms = ngx_http_keygate_now_ms();
  ngx_http_keygate_record_read(cf, db);

zone:
  db->zone = ngx_shared_memory_add(
      cf, &zname,
      8 * ngx_pagesize +
          ngx_align(sizeof(ngx_http_keygate_shared_t), ngx_pagesize),
      &ngx_http_keygate_module);
  if (db->zone == NULL) {
    return NGX_CONF_ERROR;
  }
  db->zone->init = ngx_http_keygate_zone_init;
  db->zone->data = db;

  ngx_http_keygate_db_t **slot = ngx_array_push(&mcf->dbs);
  if (slot == NULL) {
    return NGX_CONF_ERROR;
  }
  *slot = db;
  lcf->db = db;
  return NGX_CONF_OK;
}

static void ngx_http_keygate_pepper_cleanup(void *data) {
  kg_pepper_wipe(data);
}

/* keygate_pepper_file PATH — the pepper of a peppered store, read here by
 * the master (configuration time, and again on each reload) in the one
 * format of kg_pepper_read_file (docs/store.md), kept in memory for the
 * cycle and wiped with its pool. Every keygate_db then opens its store
 * with it, and the store's check value is compared on every load. */
static char *ngx_http_keygate_pepper_file(ngx_conf_t *cf, ngx_command_t *cmd,
                                          void *conf) {
  ngx_http_keygate_main_conf_t *mcf = conf;
  ngx_str_t *value = cf->args->elts;
  ngx_str_t path = value[1];
  (void)cmd;
  if (mcf->pepper != NULL) {
    return "is duplicate";
  }
  if (mcf->dbs.nelts > 0) {
    return "must come before every keygate_db (the stores are opened with "
           "it)";
  }
  if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
    return NGX_CONF_ERROR;
  }
  char *cpath = ngx_pnalloc(cf->pool, path.len + 1);
  kg_pepper *pepper = ngx_pcalloc(cf->pool, sizeof(*pepper));
  ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
  if (cpath == NULL || pepper == NULL || cln == NULL) {
    return NGX_CONF_ERROR;
  }
  ngx_memcpy(cpath, path.data, path.len);
  cpath[path.len] = '\0';
  cln->handler = ngx_http_keygate_pepper_cleanup;
  cln->data = pepper;
  char err[KG_STORE_ERR_MAX];
  if (kg_pepper_read_file(cpath, pepper, err, sizeof err) != 0) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "keygate_pepper_file: %s", err);
    return NGX_CONF_ERROR;
  }
  mcf->pepper = pepper;
  return NGX_CONF_OK;
}

/* A macro's value as a string literal (KG_REALM_MAX in a message). */
#define NGX_HTTP_KEYGATE_STR_(x) #x
#define NGX_HTTP_KEYGATE_STR(x) NGX_HTTP_KEYGATE_STR_(x)

/* keygate_realm STRING — what kg_realm_check accepts: 1 to KG_REALM_MAX
 * bytes of printable ASCII without '"' or '\' (the realm is written inside
 * a quoted-string, RFC 9110 §11.6.1). */
static char *ngx_http_keygate_realm(ngx_conf_t *cf, ngx_command_t *cmd,
                                    void *conf) {
  ngx_http_keygate_loc_conf_t *lcf = conf;
  ngx_str_t *value = cf->args->elts;
  (void)cmd;

  if (lcf->realm.data != NULL) {
    return "is duplicate";
  }
  if (kg_realm_check((const char *)value[1].data, value[1].len) != KG_OK) {
    return "must be printable ASCII without '\"' or '\\', 1 "
           "to " NGX_HTTP_KEYGATE_STR(KG_REALM_MAX) " characters";
  }
  lcf->realm = value[1];
  return NGX_CONF_OK;
}

/* keygate_key_format strict|prefix PREFIX — the key policy (SPEC §1.2). */
static char *ngx_http_keygate_key_format(ngx_conf_t *cf, ngx_command_t *cmd,
                                         void *conf) {
  ngx_http_keygate_loc_conf_t *lcf = conf;
  ngx_str_t *value = cf->args->elts;
  kg_key_kind kind;
  (void)cf;
  (void)cmd;

  if (lcf->policy_set != NGX_CONF_UNSET) {
    return "is duplicate";
  }
  if (kg_key_kind_parse((const char *)value[1].data, value[1].len, &kind) !=
      KG_OK) {
    return "takes \"strict\" or \"prefix\", then the key prefix";
  }
  if (kg_key_policy_init(&lcf->policy, kind, (const char *)value[2].data,
                         value[2].len) != KG_OK) {
    return "has a bad prefix: 1 to 16 characters of [A-Za-z0-9_-]";
  }
  lcf->policy_set = 1;
  return NGX_CONF_OK;
}

/* SQLite's WAL index (PATH-shm) must be writable by the worker: without
 * it every read rebuilds a private index and the change counter moves on
 * every poll, so the store would be reloaded every keygate_refresh. Say so
 * once, naming the fix. */
static void ngx_http_keygate_check_shm(ngx_http_keygate_db_t *db) {
  char shm[NGX_MAX_PATH];
  if (db->path.len + sizeof("-shm") > sizeof shm) {
    return;
  }
  ngx_memcpy(shm, db->path.data, db->path.len);
  ngx_memcpy(shm + db->path.len, "-shm", sizeof("-shm"));
  if (access(shm, R_OK | W_OK) != 0) {
    ngx_log_error(NGX_LOG_WARN, db->log, ngx_errno,
                  "keygate: the worker cannot write \"%s\", so every "
                  "poll reloads the store; let the \"user\" nginx runs "
                  "its workers as write the store's folder",
                  shm);
  }
}

/* ---- refresh (workers) ------------------------------------------------- */

static void ngx_http_keygate_refresh(ngx_event_t *ev);
static ngx_msec_t
ngx_http_keygate_next_poll(const ngx_http_keygate_main_conf_t *mcf);

/* What an operator does about a store a worker cannot read: the store's own
 * line says what is wrong; this says what happens and what to do. */
#define NGX_HTTP_KEYGATE_FIX                                                   \
  "fix or restore the store (run 'keygate keys list --db %V' to see the "      \
  "store's own error); the worker reloads it by itself once it reads"

/* ---- one index per server (workers) ----------------------------------- */

/*
 * Every worker decides with one index, held once per server in a file the
 * workers map MAP_SHARED (docs/server.md, "One index per server"). One
 * worker, the writer (elected in the store's zone: its pid and its last
 * poll), reads the store as a worker did before: it applies the changed
 * keys in place, now on the region, so each change goes through the
 * region's generation counter (a seqlock), and it copies a full load into
 * a new file, renamed into place and published by its number in the zone.
 * The other workers, the readers, open no store: they map the published
 * file, decide under the seqlock, and answer 503 when the writer's last
 * confirmation is older than keygate_max_staleness, when it refuses the
 * store, or when the table is mid-change for too long (a writer that died
 * there). A reader that finds the writer gone, or its last poll older than
 * three keygate_refresh, takes its place and loads the store whole into a
 * new file: it never writes a region another process wrote.
 */

/* An odd generation a request waited out in vain (a writer that died or
 * hangs mid-change): later requests that find the same one on the same
 * view answer 503 at once (ngx_http_keygate_access_handler). Forgotten
 * whenever this process maps or adopts another region, so a view
 * allocated at a freed one's address is never taken for it. */
static const kg_index *ngx_http_keygate_stuck_index;
static uint64_t ngx_http_keygate_stuck_gen;

static void ngx_http_keygate_forget_stuck(void) {
  ngx_http_keygate_stuck_index = NULL;
  ngx_http_keygate_stuck_gen = 0;
}

static void ngx_http_keygate_unmap(ngx_http_keygate_map_t *m) {
  if (m->addr != NULL) {
    (void)munmap(m->addr, m->len);
  }
  m->addr = NULL;
  m->len = 0;
}

/* PATH-KIND.OWNER.N (KIND: index or names), with ".tmp" when tmp. 0, or
 * -1 when the name does not fit. */
static int ngx_http_keygate_file(const ngx_http_keygate_db_t *db,
                                 const char *kind, ngx_uint_t no, int tmp,
                                 char *out, size_t cap) {
  const ngx_pid_t owner = db->sh != NULL ? db->sh->owner : 0;
  const int n =
      snprintf(out, cap, "%s-%s.%ld.%lu%s", (const char *)db->path.data, kind,
               (long)owner, (unsigned long)no, tmp ? ".tmp" : "");
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Map the file at path (read-only, or read-write when writable), all of
 * it. NGX_OK, or NGX_ERROR with errno set. */
static ngx_int_t ngx_http_keygate_map_file(const char *path, int writable,
                                           ngx_http_keygate_map_t *m) {
  const int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    return NGX_ERROR;
  }
  struct stat sb;
  void *addr = MAP_FAILED;
  if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
    addr =
        mmap(NULL, (size_t)sb.st_size,
             writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  } else if (fstat(fd, &sb) == 0) {
    errno = EINVAL; /* an empty file: nothing was published in it */
  }
  const int saved = errno;
  (void)close(fd);
  if (addr == MAP_FAILED) {
    errno = saved;
    return NGX_ERROR;
  }
  m->addr = addr;
  m->len = (size_t)sb.st_size;
  return NGX_OK;
}

/* The thread of a copy: write job->src into a new file job->tmp (room
 * reserved first: a full disk is an error here, never a SIGBUS later),
 * then map it again for the writer's changes (the copy's pages leave this
 * process's resident set: a worker holds only the pages it touches) and
 * attach the view. */
static void ngx_http_keygate_region_write(ngx_http_keygate_job_t *job) {
  const size_t bytes = kg_index_region_bytes(job->src);
  const int fd = open(job->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    (void)snprintf(job->err, sizeof job->err,
                   "cannot create the shared index %s: %s; let the user "
                   "nginx runs its workers as write the store's folder",
                   job->tmp, strerror(errno));
    return;
  }
  int rc = posix_fallocate(fd, 0, (off_t)bytes);
  void *mem = MAP_FAILED;
  if (rc == 0) {
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    rc = mem == MAP_FAILED ? errno : 0;
  }
  (void)close(fd);
  if (rc != 0) {
    (void)snprintf(job->err, sizeof job->err,
                   "cannot make the shared index %s (%zu bytes): %s%s",
                   job->tmp, bytes, strerror(rc),
                   rc == ENOSPC ? "; the disk holding the store is full: free "
                                  "space, the writer retries by itself"
                                : "");
    (void)unlink(job->tmp);
    return;
  }
  const kg_status st = kg_index_copy_into(job->src, mem, bytes);
  (void)munmap(mem, bytes);
  if (st != KG_OK) {
    (void)snprintf(job->err, sizeof job->err,
                   "cannot copy the index into %s: %s", job->tmp,
                   kg_status_str(st));
    (void)unlink(job->tmp);
    return;
  }
  if (ngx_http_keygate_map_file(job->tmp, 1, &job->map) != NGX_OK) {
    (void)snprintf(job->err, sizeof job->err, "cannot map %s: %s", job->tmp,
                   strerror(errno));
    (void)unlink(job->tmp);
    return;
  }
  if (kg_index_attach(job->map.addr, job->map.len, &job->view) != KG_OK) {
    (void)snprintf(job->err, sizeof job->err,
                   "%s does not hold a whole index after the copy", job->tmp);
    ngx_http_keygate_unmap(&job->map);
    (void)unlink(job->tmp);
  }
}

/* A reader: map the published index number no (when it is not the one
 * mapped). Keeps the old mapping when the new one cannot be had (the
 * caller sees rno != no and answers 503). */
static void ngx_http_keygate_map_index(ngx_http_keygate_db_t *db,
                                       ngx_uint_t no) {
  char name[NGX_MAX_PATH];
  ngx_http_keygate_map_t m = {NULL, 0};
  kg_index *view = NULL;
  if (no == 0 ||
      ngx_http_keygate_file(db, "index", no, 0, name, sizeof name) != 0 ||
      ngx_http_keygate_map_file(name, 0, &m) != NGX_OK) {
    return; /* unlinked meanwhile: a newer one is published */
  }
  if (kg_index_attach(m.addr, m.len, &view) != KG_OK) {
    ngx_http_keygate_unmap(&m);
    return;
  }
  ngx_http_keygate_forget_stuck();
  kg_index_free(db->rview);
  ngx_http_keygate_unmap(&db->rmap);
  db->rview = view;
  db->rmap = m;
  db->rno = no;
}

/* A reader: map the published names number no. */
static void ngx_http_keygate_map_names(ngx_http_keygate_db_t *db,
                                       ngx_uint_t no) {
  char name[NGX_MAX_PATH];
  ngx_http_keygate_map_t m = {NULL, 0};
  if (no == 0 ||
      ngx_http_keygate_file(db, "names", no, 0, name, sizeof name) != 0 ||
      ngx_http_keygate_map_file(name, 0, &m) != NGX_OK) {
    return;
  }
  const ngx_http_keygate_names_head_t *h = m.addr;
  if (m.len < sizeof *h || h->magic != NGX_HTTP_KEYGATE_NAMES_MAGIC ||
      h->count > (m.len - sizeof *h) / sizeof(ngx_http_keygate_names_entry_t) ||
      h->strings > m.len - sizeof *h -
                       h->count * sizeof(ngx_http_keygate_names_entry_t)) {
    ngx_http_keygate_unmap(&m);
    return;
  }
  ngx_http_keygate_unmap(&db->nmap);
  db->nmap = m;
  db->nno = no;
}

/* A reader: the name of account id from the published names ("" with
 * *len 0 when unknown). */
static const char *ngx_http_keygate_names_find(ngx_http_keygate_db_t *db,
                                               uint64_t id, size_t *len) {
  *len = 0;
  const ngx_uint_t no = __atomic_load_n(&db->sh->names_no, __ATOMIC_ACQUIRE);
  if (no != db->nno) {
    ngx_http_keygate_map_names(db, no);
  }
  const ngx_http_keygate_names_head_t *h = db->nmap.addr;
  if (h == NULL) {
    return NULL;
  }
  const ngx_http_keygate_names_entry_t *e = (const void *)(h + 1);
  const char *strings = (const char *)(e + h->count);
  size_t lo = 0, hi = (size_t)h->count;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (e[mid].id < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == h->count || e[lo].id != id ||
      (uint64_t)e[lo].off + e[lo].len > h->strings) {
    return NULL;
  }
  *len = e[lo].len;
  return strings + e[lo].off;
}

/* The writer: publish its snapshot's account names when they changed (a
 * new snapshot, or accounts added by a refresh): a new file, renamed into
 * place, its number in the zone, the previous file unlinked. */
static void ngx_http_keygate_publish_names(ngx_http_keygate_db_t *db) {
  const size_t count = kg_snapshot_account_count(db->snap);
  if (db->sh == NULL ||
      (db->names_snap == db->snap && db->names_count == count)) {
    return;
  }
  size_t strings = 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t id;
    const char *name;
    if (kg_snapshot_account_at(db->snap, i, &id, &name) == 0) {
      strings += ngx_strlen(name);
    }
  }
  const size_t bytes = sizeof(ngx_http_keygate_names_head_t) +
                       count * sizeof(ngx_http_keygate_names_entry_t) + strings;
  if (strings > UINT32_MAX) {
    return;
  }
  u_char *buf = ngx_alloc(bytes, db->log);
  if (buf == NULL) {
    return;
  }
  ngx_http_keygate_names_head_t *h = (ngx_http_keygate_names_head_t *)buf;
  ngx_http_keygate_names_entry_t *e = (ngx_http_keygate_names_entry_t *)(h + 1);
  u_char *str = (u_char *)(e + count);
  size_t off = 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t id = 0;
    const char *name = "";
    (void)kg_snapshot_account_at(db->snap, i, &id, &name);
    const size_t len = ngx_strlen(name);
    e[i].id = id;
    e[i].off = (uint32_t)off;
    e[i].len = (uint32_t)len;
    ngx_memcpy(str + off, name, len);
    off += len;
  }
  h->magic = NGX_HTTP_KEYGATE_NAMES_MAGIC;
  h->count = count;
  h->strings = strings;

  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_shmtx_lock(&shpool->mutex);
  const ngx_uint_t no = ++db->sh->next_no;
  ngx_shmtx_unlock(&shpool->mutex);
  char tmp[NGX_MAX_PATH], name[NGX_MAX_PATH];
  int ok = ngx_http_keygate_file(db, "names", no, 1, tmp, sizeof tmp) == 0 &&
           ngx_http_keygate_file(db, "names", no, 0, name, sizeof name) == 0;
  if (ok) {
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0 && write(fd, buf, bytes) == (ssize_t)bytes;
    if (fd >= 0) {
      ok = close(fd) == 0 && ok;
    }
    ok = ok && rename(tmp, name) == 0;
    if (!ok) {
      const ngx_err_t err = ngx_errno;
      (void)unlink(tmp);
      /* Tried again at every poll: said once, then once a minute while it
       * lasts, with how often it failed meanwhile. */
      const int64_t now = ngx_http_keygate_now_ms();
      db->names_failed++;
      if (db->names_said_ms == 0) {
        ngx_log_error(NGX_LOG_ERR, db->log, err,
                      "keygate: cannot write the account names %s; readers "
                      "leave $keygate_account empty for new accounts until "
                      "it can (tried at every poll, said again once a "
                      "minute): let the user nginx runs its workers as "
                      "write the store's folder, and free space on its disk",
                      tmp);
        db->names_said_ms = now;
        db->names_failed = 0;
      } else if (now - db->names_said_ms >= 60000) {
        ngx_log_error(NGX_LOG_ERR, db->log, err,
                      "keygate: still cannot write the account names %s "
                      "(%ui failed tries since the last such line): let "
                      "the user nginx runs its workers as write the store's "
                      "folder, and free space on its disk",
                      tmp, db->names_failed);
        db->names_said_ms = now;
        db->names_failed = 0;
      }
    }
  }
  ngx_free(buf);
  if (!ok) {
    return;
  }
  if (db->names_said_ms != 0) {
    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "keygate: wrote the account names of \"%V\" again",
                  &db->path);
    db->names_said_ms = 0;
    db->names_failed = 0;
  }
  ngx_uint_t old = 0;
  ngx_shmtx_lock(&shpool->mutex);
  if (db->sh->writer == ngx_pid) {
    old = db->sh->names_no;
    __atomic_store_n(&db->sh->names_no, no, __ATOMIC_RELEASE);
  } else {
    old = no; /* no longer the writer: this file is nobody's */
  }
  ngx_shmtx_unlock(&shpool->mutex);
  if (old != 0 &&
      ngx_http_keygate_file(db, "names", old, 0, name, sizeof name) == 0) {
    (void)unlink(name);
  }
  db->names_snap = db->snap;
  db->names_count = count;
}

/* kg_snapshot_on_accounts' hook: the writer's refresh added accounts. */
static void ngx_http_keygate_names_hook(void *arg, const kg_snapshot *snap) {
  ngx_http_keygate_db_t *db = arg;
  if (db->writer && db->snap == snap) {
    ngx_http_keygate_publish_names(db);
  }
}

/* The writer, after a copy: publish its region (renamed into place, the
 * number in the zone; the previous file unlinked: readers that map it keep
 * it until they map the new one). */
static void ngx_http_keygate_publish_index(ngx_http_keygate_db_t *db) {
  char tmp[NGX_MAX_PATH], name[NGX_MAX_PATH];
  if (ngx_http_keygate_file(db, "index", db->wno, 1, tmp, sizeof tmp) != 0 ||
      ngx_http_keygate_file(db, "index", db->wno, 0, name, sizeof name) != 0) {
    return;
  }
  if (rename(tmp, name) != 0) {
    ngx_log_error(NGX_LOG_ERR, db->log, ngx_errno,
                  "keygate: cannot rename %s into place; readers answer 503 "
                  "until the writer publishes an index",
                  tmp);
    return;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_uint_t old;
  ngx_shmtx_lock(&shpool->mutex);
  if (db->sh->writer == ngx_pid) {
    old = db->sh->index_no;
    __atomic_store_n(&db->sh->index_no, db->wno, __ATOMIC_RELEASE);
  } else {
    old = db->wno;
  }
  ngx_shmtx_unlock(&shpool->mutex);
  if (old != 0 &&
      ngx_http_keygate_file(db, "index", old, 0, name, sizeof name) == 0) {
    (void)unlink(name);
  }
  ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                "keygate: published the shared index of \"%V\" (%uz keys, "
                "change sequence %L, %uz MiB)",
                &db->path, kg_index_count(db->wview),
                (long long)kg_snapshot_seq(db->snap), db->wmap.len >> 20);
}

/* 1 when the writer's snapshot is its published region. */
static int ngx_http_keygate_on_region(const ngx_http_keygate_db_t *db) {
  return db->snap != NULL && db->wview != NULL &&
         kg_snapshot_index(db->snap) == db->wview && db->sh != NULL &&
         __atomic_load_n(&db->sh->index_no, __ATOMIC_ACQUIRE) == db->wno;
}

/* The writer, after every poll: its heartbeat, and what readers need to
 * decide (the time its published index last matched the store; whether it
 * refuses the store). The confirmation moves only while the published
 * index is the one it changes. */
static void ngx_http_keygate_writer_say(ngx_http_keygate_db_t *db) {
  if (db->sh == NULL || !db->writer) {
    return;
  }
  const int on_region = ngx_http_keygate_on_region(db);
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_shmtx_lock(&shpool->mutex);
  if (db->sh->writer == ngx_pid) {
    db->sh->beat_ms = ngx_http_keygate_now_ms();
    __atomic_store_n(&db->sh->refused, db->refused ? 1 : 0, __ATOMIC_RELEASE);
    if (on_region) { /* what the published file holds, confirmed then */
      __atomic_store_n(&db->sh->confirmed_ms, db->fresh_ms, __ATOMIC_RELEASE);
    }
  }
  ngx_shmtx_unlock(&shpool->mutex);
  /* after the heartbeat: a slow disk never makes the writer look stuck */
  ngx_http_keygate_record_save(db);
}

/* Stop being the writer (another took over, or this worker exits): drop
 * the snapshot, the region and the connection; the files stay for the
 * readers until the new writer publishes its own. */
static void ngx_http_keygate_drop_writer(ngx_http_keygate_db_t *db) {
  db->writer = 0;
  db->reader_stale = db->stale_said;
  if (db->snap_is_master && db->master_snap == NULL) {
    db->master_snap = db->snap;
  } else {
    kg_snapshot_free(db->snap);
  }
  db->snap = NULL;
  db->snap_is_master = 0;
  db->wview = NULL; /* freed with the snapshot */
  ngx_http_keygate_unmap(&db->wmap);
  db->wno = 0;
  kg_store_close(db->store);
  db->store = NULL;
  db->names_snap = NULL;
  db->names_count = 0;
}

/* Who writes: this worker keeps the role, or takes it from a writer that
 * is gone (killed: it never said so), has not polled for
 * NGX_HTTP_KEYGATE_WRITER_BEATS keygate_refresh (stuck), or runs an older
 * configuration (a reload's old workers); a worker of an older
 * configuration never takes it. Sets db->writer; returns the pid of the
 * writer it took over from when it just took the role (0 for none), or
 * -1 when nothing changed. */
static ngx_pid_t ngx_http_keygate_elect(ngx_http_keygate_main_conf_t *mcf,
                                        ngx_http_keygate_db_t *db) {
  if (db->sh == NULL) {
    db->writer = 1;
    return -1;
  }
  const int64_t now = ngx_http_keygate_now_ms();
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_shared_t *sh = db->sh;
  ngx_pid_t from = -1;
  int mine;
  ngx_shmtx_lock(&shpool->mutex);
  const ngx_pid_t w = sh->writer;
  mine = w == ngx_pid;
  const char *why = NULL;
  const int gone = w != 0 && kill(w, 0) != 0 && errno == ESRCH;
  if (!mine && sh->writer_generation <= db->generation) {
    if (w == 0) {
      why = "none, or it left";
    } else if (sh->writer_generation < db->generation) {
      /* one that is changing the region right now finishes first (a
       * moment: one refresh), so its region can be adopted; unless it has
       * been silent for three keygate_refresh (stuck in the change: taken
       * from, its region never adopted) */
      why = sh->writing == w && !gone &&
                    now - sh->beat_ms <=
                        (int64_t)(NGX_HTTP_KEYGATE_WRITER_BEATS * mcf->refresh)
                ? NULL
                : "a worker of an older configuration";
    } else if (gone) {
      why = "gone: killed or crashed";
    } else if (now - sh->beat_ms >
               (int64_t)(NGX_HTTP_KEYGATE_WRITER_BEATS * mcf->refresh)) {
      why = "stuck: silent for more than 3 keygate_refresh";
    }
  }
  if (why != NULL) {
    db->took_why = why;
    /* Adopt the published region when its writer left it whole (not in
     * the middle of a change) after confirming it; a region left
     * mid-change is never adopted, by this worker or a later one. */
    db->adopt_no = 0;
    if (sh->writing != 0) {
      sh->lineage_no = 0;
      sh->writing = 0;
    } else if (sh->index_no != 0 && sh->lineage_no == sh->index_no &&
               !sh->refused) {
      db->adopt_no = sh->index_no;
      db->adopt_seq = sh->lineage_seq;
      db->adopt_epoch = sh->lineage_epoch;
      db->adopt_mark = sh->lineage_mark;
      db->adopt_file = sh->lineage_file;
    }
    sh->writer = ngx_pid;
    sh->writer_generation = db->generation;
    sh->beat_ms = now;
    mine = 1;
    from = w;
  }
  ngx_shmtx_unlock(&shpool->mutex);
  if (mine && !db->writer) {
    db->writer = 1;
    return from < 0 ? 0 : from;
  }
  if (!mine && db->writer) {
    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "keygate: another worker (pid %P) writes the shared index "
                  "of \"%V\" now; this one reads it",
                  w, &db->path);
    ngx_http_keygate_drop_writer(db);
  }
  return -1;
}

/* The identity of the file db's path names now (0), or -1. */
static int ngx_http_keygate_file_id(const ngx_http_keygate_db_t *db,
                                    ngx_http_keygate_file_id_t *id) {
  struct statx sx;
  ngx_memzero(id, sizeof(*id));
  if (statx(AT_FDCWD, (const char *)db->path.data, 0, STATX_INO | STATX_BTIME,
            &sx) != 0) {
    return -1;
  }
  id->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  id->ino = sx.stx_ino;
  if (sx.stx_mask & STATX_BTIME) {
    id->btime_sec = sx.stx_btime.tv_sec;
    id->btime_nsec = sx.stx_btime.tv_nsec;
  }
  return 0;
}

static int ngx_http_keygate_same_file(const ngx_http_keygate_file_id_t *a,
                                      const ngx_http_keygate_file_id_t *b) {
  return a->dev == b->dev && a->ino == b->ino && a->btime_sec == b->btime_sec &&
         a->btime_nsec == b->btime_nsec;
}

static ino_t ngx_http_keygate_wal_with_frames(ngx_http_keygate_db_t *db);

/* 1 while the zone names a foreign PATH-wal (the -wal of a file the path
 * no longer names, seen by this or an earlier writer) that is still there
 * with frames. */
static int ngx_http_keygate_foreign_wal_left(ngx_http_keygate_db_t *db) {
  const ino_t w = db->sh != NULL
                      ? __atomic_load_n(&db->sh->foreign_wal, __ATOMIC_ACQUIRE)
                      : 0;
  return w != 0 && ngx_http_keygate_wal_with_frames(db) == w;
}

/*
 * A new writer takes the published region over instead of loading the
 * store whole (a reload's new workers, a writer killed or stuck): the
 * region its predecessor confirmed at change sequence adopt_seq against
 * the same store file, mapped writable, whole (an even generation), put in
 * a snapshot with the store's account names (kg_store_adopt); the poll
 * then brings it up to date by sequence (keys applied twice change
 * nothing). 1 when adopted: db->snap, db->store and the region are set;
 * 0 when not, with the reason at notice (the caller loads the store whole,
 * as before).
 */
static int ngx_http_keygate_adopt(ngx_http_keygate_db_t *db) {
  const ngx_uint_t no = db->adopt_no;
  db->adopt_no = 0;
  if (no == 0 || db->sh == NULL) {
    return 0;
  }
  char err[KG_STORE_ERR_MAX];
  char name[NGX_MAX_PATH];
  const char *why = NULL;
  kg_store *store = NULL;
  ngx_http_keygate_map_t m = {NULL, 0};
  kg_index *view = NULL;
  kg_snapshot *snap = NULL;
  ngx_http_keygate_file_id_t id;
  int moved = 0;
  kg_status st;
  /* beside the replaced file's -wal nothing is opened (kg_store_open
   * refuses it too, where the file system keeps birth times); the file
   * opened is the one the path names (checked after the stat), and the
   * one the region was confirmed against */
  if (ngx_http_keygate_foreign_wal_left(db)) {
    why = "the store was replaced beside a -wal of the file it replaced";
  } else if (kg_store_open_peppered((const char *)db->path.data,
                                    KG_STORE_READONLY, db->pepper, &store, err,
                                    sizeof err) != 0) {
    return 0; /* the load that follows fails the same way, and says so */
  } else if (ngx_http_keygate_file_id(db, &id) != 0 ||
             !ngx_http_keygate_same_file(&id, &db->adopt_file) ||
             kg_store_check_file(store, &moved, err, sizeof err) != 0 ||
             moved) {
    why = "the store is not the file it was confirmed against";
  } else if (ngx_http_keygate_file(db, "index", no, 0, name, sizeof name) !=
                 0 ||
             ngx_http_keygate_map_file(name, 1, &m) != NGX_OK) {
    why = "it cannot be mapped";
  } else if ((st = kg_index_attach(m.addr, m.len, &view)) != KG_OK) {
    /* an index file of another build's layout (issue 14's ninth pass
     * changed it), or a damaged or cut one: the writer builds its own */
    why = st == KG_E_NOMEM ? "no memory for a view of it"
                           : "it is not an index this build reads (another "
                             "build's layout, or damaged)";
  } else if ((kg_index_generation(view) & 1) != 0) {
    why = "a change to it was left half made";
  } else if (kg_store_adopt(store, view, db->adopt_seq, db->adopt_epoch,
                            db->adopt_mark, &snap, err, sizeof err) != 0) {
    why = err;
  }
  if (why != NULL) {
    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "keygate: not taking over the shared index of \"%V\": %s",
                  &db->path, why);
    kg_index_free(view);
    ngx_http_keygate_unmap(&m);
    kg_store_close(store);
    return 0;
  }
  if (db->snap != NULL) { /* the master's: left as it is (see db_cleanup) */
    if (db->snap_is_master && db->master_snap == NULL) {
      db->master_snap = db->snap;
    } else {
      kg_snapshot_free(db->snap);
    }
  }
  kg_store_close(db->store);
  db->snap = snap;
  db->snap_is_master = 0;
  db->store = store;
  db->opened = 1;
  db->wview = view;
  db->wmap = m;
  db->wno = no;
  db->names_snap = NULL;
  db->fresh_ms = __atomic_load_n(&db->sh->confirmed_ms, __ATOMIC_ACQUIRE);
  ngx_http_keygate_forget_stuck();
  /* the names read now, before this poll's refresh puts keys of accounts
   * made since the recorded sequence into the region (the refresh's hook
   * does not see them as new: kg_store_adopt read them already) */
  ngx_http_keygate_publish_names(db);
  ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                "keygate: adopted the shared index of \"%V\" (%uz keys, "
                "change sequence %L): bringing it up to date by sequence, "
                "no full load",
                &db->path, kg_index_count(view), (long long)db->adopt_seq);
  return 1;
}

/* The writer around a change of its published region in place: on, mark
 * it (0 when this worker is no longer the writer: change nothing); off,
 * clear the mark and, when the poll confirmed the snapshot against the
 * store (confirmed), record the region's lineage for a later writer to
 * adopt: its sequence, epoch and the store file the poll began with. */
static int ngx_http_keygate_writing(ngx_http_keygate_db_t *db, int on,
                                    int confirmed) {
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_shared_t *sh = db->sh;
  int ok = 1;
  ngx_shmtx_lock(&shpool->mutex);
  if (on) {
    ok = sh->writer == ngx_pid;
    if (ok) {
      sh->writing = ngx_pid;
    }
  } else {
    if (sh->writing == ngx_pid) {
      sh->writing = 0;
    }
    if (confirmed && db->poll_file_ok && sh->writer == ngx_pid &&
        sh->index_no == db->wno) {
      sh->lineage_no = db->wno;
      sh->lineage_seq = kg_snapshot_seq(db->snap);
      sh->lineage_epoch = kg_snapshot_epoch(db->snap);
      /* the mark, so that the adopter's first refresh judges the store in
       * its own transaction: the snapshot's, or the one the zone records
       * as served for that sequence */
      sh->lineage_mark = kg_snapshot_mark(db->snap);
      if (sh->lineage_mark == 0 && sh->set && sh->epoch == sh->lineage_epoch &&
          sh->seq == sh->lineage_seq) {
        sh->lineage_mark = sh->mark;
      }
      sh->lineage_file = db->poll_file;
    }
  }
  ngx_shmtx_unlock(&shpool->mutex);
  return ok;
}

/* A reader's poll: no store connection; map the published index (requests
 * do it too), say once when the shared keys get too old and when they are
 * fresh again. */
static void ngx_http_keygate_reader_poll(ngx_http_keygate_db_t *db) {
  if (db->snap != NULL) {
    /* the master's snapshot: a reader decides with the shared index only */
    if (db->snap_is_master && db->master_snap == NULL) {
      db->master_snap = db->snap;
    } else {
      kg_snapshot_free(db->snap);
    }
    db->snap = NULL;
    db->snap_is_master = 0;
  }
  kg_store_close(db->store);
  db->store = NULL;
  if (db->sh == NULL) {
    return;
  }
  const ngx_uint_t no = __atomic_load_n(&db->sh->index_no, __ATOMIC_ACQUIRE);
  if (no != db->rno) {
    ngx_http_keygate_map_index(db, no);
  }
  if (__atomic_load_n(&db->sh->refused, __ATOMIC_ACQUIRE)) {
    return; /* 503, and the writer's alert says why and what to do */
  }
  const int64_t confirmed =
      __atomic_load_n(&db->sh->confirmed_ms, __ATOMIC_ACQUIRE);
  const int64_t now = ngx_http_keygate_now_ms();
  const int fresh = db->rview != NULL && db->rno == no &&
                    confirmed + (int64_t)db->max_staleness > now;
  db->fresh_ms = db->rview != NULL ? confirmed : 0;
  if (!fresh && !db->reader_stale && db->rview != NULL) {
    db->reader_stale = 1;
    ngx_log_error(NGX_LOG_ERR, db->log, 0,
                  "keygate: the shared keys of \"%V\" were last confirmed by "
                  "the writer worker (pid %P) %L s ago, over "
                  "keygate_max_staleness (%M s): answering 503 "
                  "service_unavailable until it confirms them again; the "
                  "writer's own lines say why (a store it cannot read, or a "
                  "full load of a replaced or much changed store still "
                  "running: docs/server.md)",
                  &db->path, db->sh->writer,
                  (long long)((now - confirmed) / 1000),
                  db->max_staleness / 1000);
  } else if (fresh && db->reader_stale) {
    db->reader_stale = 0;
    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "keygate: the shared keys of \"%V\" are fresh again",
                  &db->path);
  }
}

/* Bring this worker's view of the shared zone up to date: the zone's
 * record, once any worker served, is what this server served (epoch,
 * newest sequence, its history mark); a worker's own differs only when it
 * came from the file at configuration time, which nobody served yet
 * (review 73: after a reload during a refusal, the refused file's own
 * record kept the good store refused). */
static void ngx_http_keygate_sync_seen(ngx_http_keygate_db_t *db) {
  if (db->sh == NULL) {
    return;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_shared_t *sh = db->sh;
  ngx_shmtx_lock(&shpool->mutex);
  if (sh->set) {
    db->seen_epoch = sh->epoch;
    db->seen_seq = sh->seq;
    db->seen_mark = sh->mark;
  }
  ngx_shmtx_unlock(&shpool->mutex);
}

/* Add epoch to the zone's epochs left (under its mutex), once: 1 when it
 * was not there. */
static int ngx_http_keygate_left_add(ngx_http_keygate_shared_t *sh,
                                     uint64_t epoch) {
  for (ngx_uint_t i = 0; i < sh->nleft; i++) {
    if (sh->left[i] == epoch) {
      return 0;
    }
  }
  if (sh->nleft == NGX_HTTP_KEYGATE_LEFT_MAX) {
    ngx_memmove(sh->left, sh->left + 1,
                (NGX_HTTP_KEYGATE_LEFT_MAX - 1) * sizeof sh->left[0]);
    sh->nleft--;
  }
  sh->left[sh->nleft++] = epoch;
  return 1;
}

/* 1 when epoch is one this server has left (the zone's record). */
static int ngx_http_keygate_left(ngx_http_keygate_db_t *db, uint64_t epoch) {
  if (db->sh == NULL) {
    return 0;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  int left = 0;
  ngx_shmtx_lock(&shpool->mutex);
  for (ngx_uint_t i = 0; i < db->sh->nleft && !left; i++) {
    left = db->sh->left[i] == epoch;
  }
  ngx_shmtx_unlock(&shpool->mutex);
  return left;
}

/* Record that this worker now serves (epoch, seq) of history mark `mark`,
 * here and in the zone; the zone learns the epochs left: the one served
 * before, when epoch is another, and the store's own (snap's). 0, or 1
 * when epoch is one the server left after all (another worker's record
 * since the judgement: asked again under the same lock as the record).
 * A worker that is no longer the writer (an old configuration's, its full
 * load finishing after a reload) leaves the zone as it is (review 74). */
static int ngx_http_keygate_publish(ngx_http_keygate_db_t *db, int64_t seq,
                                    uint64_t epoch, uint64_t mark,
                                    const kg_snapshot *snap) {
  int changed = 0;
  if (db->sh == NULL) {
    db->seen_epoch = epoch;
    db->seen_seq = seq;
    db->seen_mark = mark;
    return 0;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_shared_t *sh = db->sh;
  ngx_shmtx_lock(&shpool->mutex);
  for (ngx_uint_t i = 0; i < sh->nleft; i++) {
    if (sh->left[i] == epoch) {
      ngx_shmtx_unlock(&shpool->mutex);
      return 1;
    }
  }
  db->seen_epoch = epoch;
  db->seen_seq = seq;
  db->seen_mark = mark;
  if (sh->writer != ngx_pid) {
    ngx_shmtx_unlock(&shpool->mutex);
    return 0;
  }
  if (sh->set && sh->epoch != epoch) {
    changed |= ngx_http_keygate_left_add(sh, sh->epoch);
  }
  size_t nleft = 0;
  const uint64_t *left = kg_snapshot_left_epochs(snap, &nleft);
  for (size_t i = 0; i < nleft; i++) {
    if (left[i] != epoch) {
      changed |= ngx_http_keygate_left_add(sh, left[i]);
    }
  }
  if (!sh->set || sh->epoch != epoch || sh->seq < seq ||
      (sh->seq == seq && sh->mark == 0 && mark != 0)) {
    sh->epoch = epoch;
    sh->seq = seq;
    sh->mark = mark;
    sh->set = 1;
    changed = 1;
  }
  if (changed) {
    sh->record_changes++; /* the writer writes PATH-served after the poll */
  }
  ngx_shmtx_unlock(&shpool->mutex);
  return 0;
}

/* Say in this worker's slot of db's zone whether, and until when, it
 * serves db (after every poll). A worker of an older configuration (a
 * reload's old workers, still finishing requests) never writes over a
 * newer one's slot. */
static void ngx_http_keygate_slot_set(ngx_http_keygate_main_conf_t *mcf,
                                      ngx_http_keygate_db_t *db) {
  if (db->sh == NULL || ngx_worker >= NGX_MAX_PROCESSES) {
    return;
  }
  int64_t until = db->snap != NULL && !db->refused
                      ? db->fresh_ms + (int64_t)mcf->max_staleness
                      : 0;
  const ngx_uint_t no = __atomic_load_n(&db->sh->index_no, __ATOMIC_ACQUIRE);
  if (no != 0 && (db->snap == NULL || !db->refused) &&
      !__atomic_load_n(&db->sh->refused, __ATOMIC_ACQUIRE) &&
      ((db->rview != NULL && db->rno == no) || db->snap != NULL)) {
    /* deciding with the shared index (index_now): until its confirmation
     * is too old */
    const int64_t shared =
        __atomic_load_n(&db->sh->confirmed_ms, __ATOMIC_ACQUIRE) +
        (int64_t)mcf->max_staleness;
    until = shared > until ? shared : until;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_slot_t *slot = &db->sh->slot[ngx_worker];
  ngx_shmtx_lock(&shpool->mutex);
  if (slot->generation <= db->generation) {
    slot->pid = ngx_pid;
    slot->generation = db->generation;
    slot->serves_until_ms = until;
  }
  ngx_shmtx_unlock(&shpool->mutex);
}

/* A worker that exits frees its slot (unless a newer worker has it). */
static void ngx_http_keygate_slot_clear(ngx_http_keygate_db_t *db) {
  if (db->sh == NULL || ngx_worker >= NGX_MAX_PROCESSES) {
    return;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_http_keygate_slot_t *slot = &db->sh->slot[ngx_worker];
  ngx_shmtx_lock(&shpool->mutex);
  if (slot->pid == ngx_pid) {
    ngx_memzero(slot, sizeof(*slot));
  }
  ngx_shmtx_unlock(&shpool->mutex);
}

/* How many of the first `workers` slots of db name a live worker of this
 * configuration that serves db now. */
static ngx_uint_t ngx_http_keygate_serving(const ngx_http_keygate_db_t *db,
                                           ngx_uint_t workers) {
  if (db->sh == NULL) {
    return 0;
  }
  const int64_t now = ngx_http_keygate_now_ms();
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_uint_t n = 0;
  ngx_shmtx_lock(&shpool->mutex);
  for (ngx_uint_t i = 0; i < workers && i < NGX_MAX_PROCESSES; i++) {
    const ngx_http_keygate_slot_t *slot = &db->sh->slot[i];
    /* a worker killed (-9) never cleared its slot: ask the kernel */
    if (slot->pid != 0 && slot->generation == db->generation &&
        slot->serves_until_ms > now &&
        (slot->pid == ngx_pid || kill(slot->pid, 0) == 0 || errno == EPERM)) {
      n++;
    }
  }
  ngx_shmtx_unlock(&shpool->mutex);
  return n;
}

/* When requests start to get 503 for staleness, in ngx_current_msec. */
static void ngx_http_keygate_set_stale_at(ngx_http_keygate_main_conf_t *mcf,
                                          ngx_http_keygate_db_t *db) {
  int64_t left =
      db->fresh_ms + (int64_t)mcf->max_staleness - ngx_http_keygate_now_ms();
  db->stale_at = ngx_current_msec + (ngx_msec_t)(left > 0 ? left : 0);
}

/* A poll failed with err, a store error of kind `kind` (KG_STORE_E_OTHER
 * for the module's own): close the connection (the next poll opens the
 * path again and loads it whole), log once, then a summary once a
 * minute; the line says what is wrong, then the fix for its kind. */
static void ngx_http_keygate_failed(ngx_http_keygate_main_conf_t *mcf,
                                    ngx_http_keygate_db_t *db, const char *err,
                                    kg_store_error_kind kind) {
  const int64_t now = ngx_http_keygate_now_ms();
  char fixbuf[NGX_MAX_PATH + 96];
  const char *fix =
      ngx_http_keygate_store_fix(kind, &db->path, fixbuf, sizeof fixbuf);
  /* what to do, last on each line; beside a foreign -wal, not a command
   * that opens the store: keygate or sqlite3 would read that -wal into
   * the new file (review 70: `keygate keys list` brought a deleted key
   * back) */
  u_char todo[NGX_MAX_PATH + 256];
  if (db->foreign_wal != 0) {
    ngx_snprintf(todo, sizeof todo - 1,
                 "remove %V-wal and %V-shm before anything opens the store "
                 "(keygate and sqlite3 would read that -wal into it), and "
                 "remove them in the same step as every rename over it from "
                 "now on (docs/server.md); the worker loads it by itself "
                 "then%Z",
                 &db->path, &db->path);
  } else {
    ngx_snprintf(todo, sizeof todo - 1, NGX_HTTP_KEYGATE_FIX "%Z", &db->path);
  }
  todo[sizeof todo - 1] = '\0';
  kg_store_close(db->store);
  db->store = NULL;
  db->unsaid++;
  if (db->failures++ == 0) {
    db->fail_since_ms = now;
    db->said_ms = now;
    db->unsaid = 0;
    ngx_log_error(NGX_LOG_ERR, db->log, 0,
                  "keygate: cannot read the key store \"%V\": %s%s; "
                  "requests are decided with the keys as of %L s ago, and "
                  "answered 503 service_unavailable once that is over "
                  "keygate_max_staleness (%M s); %s",
                  &db->path, err, fix, (long long)((now - db->fresh_ms) / 1000),
                  mcf->max_staleness / 1000, todo);
  } else if (now - db->said_ms >= 60000) {
    ngx_log_error(NGX_LOG_ERR, db->log, 0,
                  "keygate: the key store \"%V\" has been unreadable for "
                  "%L s (%ui failed polls since the last line): %s%s; "
                  "%s; %s",
                  &db->path, (long long)((now - db->fail_since_ms) / 1000),
                  db->unsaid, err, fix,
                  now - db->fresh_ms > (int64_t)mcf->max_staleness
                      ? "every request is answered 503 service_unavailable"
                      : "requests are still decided with the last keys read",
                  todo);
    db->said_ms = now;
    db->unsaid = 0;
  }
  if (!db->stale_said && now - db->fresh_ms > (int64_t)mcf->max_staleness) {
    db->stale_said = 1;
    ngx_log_error(NGX_LOG_ERR, db->log, 0,
                  "keygate: the keys of \"%V\" were last read %L s ago, "
                  "over keygate_max_staleness (%M s): answering 503 "
                  "service_unavailable until the store reads "
                  "again; %s",
                  &db->path, (long long)((now - db->fresh_ms) / 1000),
                  mcf->max_staleness / 1000, todo);
  }
}

/* How a store compares with what this server served
 * (ngx_http_keygate_judge). */
typedef enum {
  NGX_HTTP_KEYGATE_SAME = 0, /* the history served, or an acknowledged one */
  NGX_HTTP_KEYGATE_BACK,     /* an older sequence of the epoch served */
  NGX_HTTP_KEYGATE_OTHER,    /* at or past it by other writes */
  NGX_HTTP_KEYGATE_LEFT      /* an epoch this server left (ack-restore) */
} ngx_http_keygate_verdict_e;

/* Refuse the store (seq: its sequence) for the verdict why: every request
 * 503, one alert now and then once a minute. */
static void ngx_http_keygate_refuse(ngx_http_keygate_db_t *db, int64_t seq,
                                    ngx_http_keygate_verdict_e why) {
  const int64_t now = ngx_http_keygate_now_ms();
  const int again = db->refused && db->refuse_why == (ngx_uint_t)why;
  db->refused = 1;
  if (again && now - db->refuse_said_ms < 60000) {
    return; /* the same verdict: once a minute; another one at once */
  }
  db->refuse_why = why;
  db->refuse_said_ms = now;
  /* each line: what is wrong, then the same consequence and way out */
#define NGX_HTTP_KEYGATE_REFUSING                                              \
  "refusing it, every request is answered 503 service_unavailable so that "    \
  "no key deleted since comes back; put the newer store back, or accept "      \
  "this one with 'keygate keys ack-restore --db %V' (keys deleted since "      \
  "that backup then answer again: delete them anew)"
  if (why == NGX_HTTP_KEYGATE_LEFT) {
    ngx_log_error(NGX_LOG_ALERT, db->log, 0,
                  "keygate: the key store \"%V\" is of an epoch this server "
                  "served and then left for another (an older store put "
                  "back: from before a 'keygate keys ack-restore', or one "
                  "another store was renamed over?): refusing it, every "
                  "request is answered 503 service_unavailable so that no "
                  "key deleted since comes back; put back the store it "
                  "served last, or accept this one with 'keygate keys "
                  "ack-restore --db %V' (keys deleted since then answer "
                  "again: delete them anew)",
                  &db->path, &db->path);
  } else if (why == NGX_HTTP_KEYGATE_BACK) {
    ngx_log_error(NGX_LOG_ALERT, db->log, 0,
                  "keygate: the key store \"%V\" went back from change "
                  "sequence %L to %L (an older backup put "
                  "back?): " NGX_HTTP_KEYGATE_REFUSING,
                  &db->path, (long long)db->seen_seq, (long long)seq,
                  &db->path);
  } else {
    ngx_log_error(NGX_LOG_ALERT, db->log, 0,
                  "keygate: the key store \"%V\" is at change sequence %L "
                  "but not by the changes this server served up to %L (its "
                  "history mark of %L differs: an older backup put back and "
                  "written to since?): " NGX_HTTP_KEYGATE_REFUSING,
                  &db->path, (long long)seq, (long long)db->seen_seq,
                  (long long)db->seen_seq, &db->path);
  }
#undef NGX_HTTP_KEYGATE_REFUSING
}

/*
 * How store, at change sequence seq of epoch `epoch`, compares with what
 * this server served (the zone's record: ngx_http_keygate_sync_seen). One
 * place for the judgement, asked before a store's keys are served: a full
 * load before its snapshot is swapped in, a refresh's result, an adopted
 * snapshot before the refresh applies a row, a refused store at each poll.
 *
 * LEFT: an epoch the server left (an older backup from before an
 * ack-restore; review 73 saw one served). Another epoch otherwise is an
 * acknowledged restore: SAME. In the epoch served: BACK below the
 * sequence served; OTHER when the store's history mark of that sequence
 * is not the one served (a backup put back and written to since). And in
 * any epoch OTHER when the store's mark of seq is not *mark: it is not
 * the file a snapshot of seq with that mark was read from (overwritten in
 * place since; the next poll judges it afresh). Both marks come from one
 * read transaction (kg_store_marks).
 *
 * *mark: in, the mark of seq the caller read (0: none); out, the store's.
 * -1 with err on a store error.
 */
static int ngx_http_keygate_judge(ngx_http_keygate_db_t *db, kg_store *store,
                                  int64_t seq, uint64_t epoch, uint64_t *mark,
                                  char *err, size_t errcap) {
  ngx_http_keygate_sync_seen(db);
  if (ngx_http_keygate_left(db, epoch)) {
    return NGX_HTTP_KEYGATE_LEFT;
  }
  const int served = epoch == db->seen_epoch;
  if (served && seq < db->seen_seq) {
    return NGX_HTTP_KEYGATE_BACK;
  }
  const int64_t at[2] = {seq, db->seen_seq};
  uint64_t got[2] = {0, 0};
  if (kg_store_marks(store, at, got, served ? 2 : 1, err, errcap) != 0) {
    return -1;
  }
  const uint64_t read = *mark;
  *mark = got[0];
  if ((read != 0 && got[0] != read) ||
      (served && db->seen_mark != 0 && got[1] != db->seen_mark)) {
    return NGX_HTTP_KEYGATE_OTHER;
  }
  return NGX_HTTP_KEYGATE_SAME;
}

/* The snapshot matches the store: it is fresh, unless it is older than
 * what this server already served (then the store went back). */
static void ngx_http_keygate_current(ngx_http_keygate_main_conf_t *mcf,
                                     ngx_http_keygate_db_t *db) {
  const int64_t seq = kg_snapshot_seq(db->snap);
  const uint64_t epoch = kg_snapshot_epoch(db->snap);
  char err[KG_STORE_ERR_MAX];
  uint64_t mark = kg_snapshot_mark(db->snap);
  const int why =
      ngx_http_keygate_judge(db, db->store, seq, epoch, &mark, err, sizeof err);
  if (why < 0) {
    ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
    return;
  }
  if (why != NGX_HTTP_KEYGATE_SAME) {
    ngx_http_keygate_refuse(db, seq, why);
    return;
  }
  if (ngx_http_keygate_publish(db, seq, epoch, mark, db->snap) != 0) {
    ngx_http_keygate_refuse(db, seq, NGX_HTTP_KEYGATE_LEFT);
    return;
  }
  db->refused = 0;
  db->unconfirmed = 0;
  db->fresh_ms = ngx_http_keygate_now_ms();
  ngx_http_keygate_set_stale_at(mcf, db);
  if (db->failures > 0) {
    ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                  "keygate: the key store \"%V\" reads again after %L s "
                  "(%ui failed polls); serving change sequence %L",
                  &db->path,
                  (long long)((db->fresh_ms - db->fail_since_ms) / 1000),
                  db->failures, (long long)seq);
  }
  db->failures = 0;
  db->unsaid = 0;
  db->stale_said = 0;
}

/* The inode of PATH-wal when it holds frames (more than its 32-byte
 * header), else 0. */
static ino_t ngx_http_keygate_wal_with_frames(ngx_http_keygate_db_t *db) {
  char wal[NGX_MAX_PATH];
  struct stat sb;
  if (db->path.len + sizeof("-wal") > sizeof wal) {
    return 0;
  }
  ngx_memcpy(wal, db->path.data, db->path.len);
  ngx_memcpy(wal + db->path.len, "-wal", sizeof("-wal"));
  if (stat(wal, &sb) != 0 || sb.st_size <= 32) {
    return 0;
  }
  return sb.st_ino;
}

/* Put `now` in the zone's foreign_wal when it holds `was` (0 for any). */
static void ngx_http_keygate_share_foreign_wal(ngx_http_keygate_db_t *db,
                                               ino_t was, ino_t now) {
  if (db->sh == NULL) {
    return;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_shmtx_lock(&shpool->mutex);
  if (was == 0 || db->sh->foreign_wal == was) {
    __atomic_store_n(&db->sh->foreign_wal, now, __ATOMIC_RELEASE);
  }
  ngx_shmtx_unlock(&shpool->mutex);
}

/* After a replacement: PATH-wal, when it still holds frames, belongs to
 * the file that was replaced, and SQLite would read them over the new file
 * (deleted keys could come back). Refuse until it is gone. 1 when loading
 * must wait. */
static int ngx_http_keygate_foreign_wal(ngx_http_keygate_main_conf_t *mcf,
                                        ngx_http_keygate_db_t *db) {
  if (db->foreign_wal == 0 && db->sh != NULL) {
    /* seen by an earlier writer (this worker took the role since) */
    db->foreign_wal = __atomic_load_n(&db->sh->foreign_wal, __ATOMIC_ACQUIRE);
  }
  if (db->foreign_wal == 0) {
    return 0;
  }
  if (ngx_http_keygate_wal_with_frames(db) != db->foreign_wal) {
    ngx_http_keygate_share_foreign_wal(db, db->foreign_wal, 0);
    db->foreign_wal = 0;
    return 0;
  }
  /* No path here: the line names the store first, and its todo says to
   * remove PATH-wal and PATH-shm (ngx_http_keygate_failed). Named seven
   * times, a path of 100 bytes cut the remedy off this line's end. */
  ngx_http_keygate_failed(mcf, db,
                          "it was replaced while its -wal still holds changes "
                          "of the file it replaced, which SQLite would mix "
                          "into the new one (deleted keys could come back)",
                          KG_STORE_E_OTHER);
  return 1;
}

/* The thread of a full load: open the path afresh and load it whole. */
static void *ngx_http_keygate_job_run(void *arg) {
  ngx_http_keygate_job_t *job = arg;
  if (job->copy) {
    ngx_http_keygate_region_write(job);
    __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
    return NULL;
  }
  job->store = NULL;
  job->snap = NULL;
  job->kind = KG_STORE_E_OTHER;
  if (kg_store_open_peppered(job->path, KG_STORE_READONLY, job->pepper,
                             &job->store, job->err, sizeof job->err) != 0) {
    job->kind = kg_store_last_error_kind(); /* this thread's */
  } else if (kg_store_load(job->store, &job->snap, job->err, sizeof job->err) !=
             0) {
    job->kind = kg_store_last_error_kind();
    kg_store_close(job->store);
    job->store = NULL;
  }
  __atomic_store_n(&job->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

/* Start a full load aside: requests go on with the current snapshot. With
 * no thread (it could not start), load here. */
static void ngx_http_keygate_job_start(ngx_http_keygate_main_conf_t *mcf,
                                       ngx_http_keygate_db_t *db) {
  ngx_http_keygate_job_t *job = &db->job;
  if (!job->copy) {
    kg_store_close(db->store);
    db->store = NULL;
  }
  job->err[0] = '\0';
  job->path = (const char *)db->path.data;
  job->pepper = db->pepper;
  job->done = 0;
  sigset_t all, old;
  sigfillset(&all);
  /* The thread takes no signal: nginx's master talks to the worker. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int rc =
      pthread_create(&job->thread, NULL, ngx_http_keygate_job_run, job);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0) {
    job->running = 1;
    return;
  }
  ngx_log_error(NGX_LOG_WARN, db->log, rc,
                "keygate: cannot start a thread to %s \"%V\"; doing it "
                "while requests wait",
                job->copy ? "copy the index of" : "load", &db->path);
  (void)ngx_http_keygate_job_run(job);
  job->running = 0;
  (void)mcf;
}

static void ngx_http_keygate_job_finish(ngx_http_keygate_main_conf_t *mcf,
                                        ngx_http_keygate_db_t *db);

/* A copy finished: the writer's snapshot now decides with the region (its
 * heap index is freed), which is renamed into place and published. */
static void ngx_http_keygate_copy_finish(ngx_http_keygate_main_conf_t *mcf,
                                         ngx_http_keygate_db_t *db) {
  ngx_http_keygate_job_t *job = &db->job;
  job->copy = 0;
  if (job->view == NULL) {
    const int64_t now = ngx_http_keygate_now_ms();
    if (now - db->publish_said_ms >= 60000 || db->publish_said_ms == 0) {
      db->publish_said_ms = now;
      ngx_log_error(NGX_LOG_ERR, db->log, 0,
                    "keygate: cannot publish the shared index of \"%V\": %s; "
                    "the other workers answer 503 service_unavailable once "
                    "the index they have is older than keygate_max_staleness",
                    &db->path, job->err);
    }
    return;
  }
  if (!db->writer || db->snap == NULL ||
      kg_snapshot_index(db->snap) != job->src) {
    kg_index_free(job->view);
    job->view = NULL;
    ngx_http_keygate_unmap(&job->map);
    (void)unlink(job->tmp);
    return;
  }
  const ngx_http_keygate_map_t oldmap = db->wmap;
  kg_index *old = kg_snapshot_set_index(db->snap, job->view);
  if (db->snap_is_master && db->master_index == NULL) {
    db->master_index = old; /* shared with the master: left as it is */
  } else {
    kg_index_free(old);
  }
  if (oldmap.addr != NULL) {
    (void)munmap(oldmap.addr, oldmap.len);
  }
  ngx_http_keygate_forget_stuck();
  db->wview = job->view;
  db->wmap = job->map;
  db->wno = job->no;
  job->view = NULL;
  job->map.addr = NULL;
  job->map.len = 0;
  db->publish_said_ms = 0;
  ngx_http_keygate_publish_names(db); /* before the index that needs them */
  ngx_http_keygate_publish_index(db);
  ngx_http_keygate_writer_say(db);
  (void)mcf;
}

/* The writer, after a poll that confirmed its snapshot: when the snapshot
 * is not its published region (the master's at the start, or a full load),
 * copy it into a new file on a thread. */
static void ngx_http_keygate_maybe_copy(ngx_http_keygate_main_conf_t *mcf,
                                        ngx_http_keygate_db_t *db) {
  ngx_http_keygate_job_t *job = &db->job;
  if (!db->writer || db->sh == NULL || job->running || db->snap == NULL ||
      db->refused || db->failures > 0 || ngx_http_keygate_on_region(db)) {
    return;
  }
  ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
  ngx_shmtx_lock(&shpool->mutex);
  const ngx_uint_t no = ++db->sh->next_no;
  ngx_shmtx_unlock(&shpool->mutex);
  if (ngx_http_keygate_file(db, "index", no, 1, job->tmp, sizeof job->tmp) !=
      0) {
    return;
  }
  job->copy = 1;
  job->no = no;
  job->src = kg_snapshot_index(db->snap);
  job->view = NULL;
  job->map.addr = NULL;
  job->map.len = 0;
  ngx_http_keygate_job_start(mcf, db);
  if (!job->running) {
    ngx_http_keygate_job_finish(mcf, db);
  }
}

/* A full load finished: swap it in, unless it is older than what was
 * served. */
static void ngx_http_keygate_job_finish(ngx_http_keygate_main_conf_t *mcf,
                                        ngx_http_keygate_db_t *db) {
  ngx_http_keygate_job_t *job = &db->job;
  if (job->running) {
    (void)pthread_join(job->thread, NULL);
    job->running = 0;
  }
  job->done = 0;
  if (job->copy) {
    ngx_http_keygate_copy_finish(mcf, db);
    return;
  }
  kg_store *store = job->store;
  kg_snapshot *fresh = job->snap;
  job->store = NULL;
  job->snap = NULL;
  if (fresh == NULL) {
    ngx_http_keygate_failed(mcf, db, job->err, job->kind);
    return;
  }
  db->store = store;
  db->opened = 1;
  char err[KG_STORE_ERR_MAX];
  uint64_t mark = kg_snapshot_mark(fresh);
  const int why =
      ngx_http_keygate_judge(db, store, kg_snapshot_seq(fresh),
                             kg_snapshot_epoch(fresh), &mark, err, sizeof err);
  if (why > 0) {
    ngx_http_keygate_refuse(db, kg_snapshot_seq(fresh), why);
    kg_snapshot_free(fresh); /* keep the served one; this one is not served */
    return;
  }
  if (why < 0) {
    kg_snapshot_free(fresh);
    ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
    return;
  }
  kg_snapshot *old = db->snap;
  db->snap = fresh;
  db->names_snap = NULL; /* a new snapshot: publish its names anew */
  if (db->snap_is_master && db->master_snap == NULL) {
    db->master_snap = old; /* shared with the master: left as it is */
  } else {
    kg_snapshot_free(old);
  }
  db->snap_is_master = 0;
  if (db->wview != NULL) {
    /* old's index was the region: readers keep the published file until
     * the copy of this snapshot replaces it */
    db->wview = NULL;
    ngx_http_keygate_unmap(&db->wmap);
  }
  ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                "keygate: loaded \"%V\": %uz keys, change sequence %L",
                &db->path, kg_index_count(kg_snapshot_index(fresh)),
                (long long)kg_snapshot_seq(fresh));
  ngx_http_keygate_check_shm(db);
  ngx_http_keygate_current(mcf, db);
}

/* One poll of one store. */
static void ngx_http_keygate_poll(ngx_http_keygate_main_conf_t *mcf,
                                  ngx_http_keygate_db_t *db) {
  char err[KG_STORE_ERR_MAX];
  ngx_http_keygate_job_t *job = &db->job;
  if (job->running) {
    if (__atomic_load_n(&job->done, __ATOMIC_ACQUIRE)) {
      if (db->writer) {
        ngx_http_keygate_job_finish(mcf, db);
      } else {
        ngx_http_keygate_job_reap(job);
      }
    }
    return;
  }
  const ngx_pid_t from = ngx_http_keygate_elect(mcf, db);
  if (!db->writer) {
    ngx_http_keygate_reader_poll(db);
    return;
  }
  if (from >= 0) {
    /* A new writer never changes a region another process wrote (it may
     * have died in the middle of a change): it builds its own from its
     * snapshot (the master's, as a new worker has it, brought up to date
     * by sequence) or, without one, from the store read whole. Until then
     * it decides with the published index, as a reader. */
    /* one "answering 503" line per worker and episode, whatever its role */
    db->stale_said = db->reader_stale;
    db->reader_stale = 0;
    /* a refusal stands until this writer judges the store itself: readers
     * are not told "served" before that (review 73) */
    db->refused = __atomic_load_n(&db->sh->refused, __ATOMIC_ACQUIRE) != 0;
    const int adopted = ngx_http_keygate_adopt(db);
    if (db->snap == NULL || adopted) {
      db->opened = 1;
      db->fresh_ms = __atomic_load_n(&db->sh->confirmed_ms, __ATOMIC_ACQUIRE);
      ngx_http_keygate_set_stale_at(mcf, db);
    }
    if (from > 0) {
      ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                    "keygate: this worker now writes the shared index of "
                    "\"%V\" in place of pid %P (%s)%s",
                    &db->path, from, db->took_why,
                    adopted            ? "; adopting its published index"
                    : db->snap == NULL ? "; loading the store whole"
                                       : "; from its own snapshot, brought up "
                                         "to date by sequence");
    } else if (adopted) {
      /* the writer before it had left already (a reload's old worker
       * exits as soon as its connections are done): the adoption is as
       * worth a line as a takeover from a live one */
      ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                    "keygate: this worker now writes the shared index of "
                    "\"%V\" (%s); adopting its published index",
                    &db->path, db->took_why);
    }
  }
  /* the file the path names as this poll begins: what a confirmed
   * region's lineage records (ngx_http_keygate_writing) */
  db->poll_file_ok = ngx_http_keygate_file_id(db, &db->poll_file) == 0;
  if (db->store == NULL) {
    if (ngx_http_keygate_foreign_wal(mcf, db)) {
      return;
    }
    if (db->opened) {
      /* back after a failure or a replacement: whole, never by the
       * sequence (the file may not be the history the snapshot knows) */
      ngx_http_keygate_job_start(mcf, db);
      if (!job->running) {
        ngx_http_keygate_job_finish(mcf, db);
      }
      return;
    }
    /* the first poll of this worker: the master's snapshot, brought up to
     * date by sequence */
    if (kg_store_open_peppered((const char *)db->path.data, KG_STORE_READONLY,
                               db->pepper, &db->store, err, sizeof err) != 0) {
      ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
      return;
    }
    db->opened = 1;
    ngx_http_keygate_check_shm(db);
  } else {
    int moved = 0;
    if (kg_store_check_file(db->store, &moved, err, sizeof err) != 0) {
      ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
      return;
    }
    if (moved) {
      ngx_log_error(NGX_LOG_NOTICE, db->log, 0,
                    "keygate: \"%V\" now names another file (renamed over, "
                    "or deleted and restored; or its -wal was removed under "
                    "this worker); loading that file",
                    &db->path);
      kg_store_close(db->store);
      db->store = NULL;
      db->foreign_wal = ngx_http_keygate_wal_with_frames(db);
      ngx_http_keygate_share_foreign_wal(db, 0, db->foreign_wal);
      ngx_http_keygate_poll(mcf, db);
      return;
    }
  }
  if (db->refused || kg_snapshot_mark(db->snap) == 0) {
    /* A refused store is judged afresh at each poll (more writes to a
     * restored store do not make its history ours; the newer store put
     * back, even in place, or an ack-restore does): only one judged the
     * same is loaded, whole. An adopted snapshot told no mark (the writer
     * before knew none) cannot be judged by kg_store_refresh: judged
     * here, before any row of the store reaches the shared index (review
     * 72). */
    int64_t seq;
    uint64_t epoch, mark = 0;
    int why = kg_store_head(db->store, &seq, &epoch, err, sizeof err);
    if (why == 0) {
      why = ngx_http_keygate_judge(db, db->store, seq, epoch, &mark, err,
                                   sizeof err);
    }
    if (why < 0) {
      ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
      return;
    }
    if (why > 0) {
      ngx_http_keygate_refuse(db, seq, why);
      return;
    }
    if (db->refused) {
      ngx_http_keygate_job_start(mcf, db);
      if (!job->running) {
        ngx_http_keygate_job_finish(mcf, db);
      }
      return;
    }
  }
  kg_refresh result;
  size_t rows = 0;
  /* A new account's name is published before its keys reach the shared
   * index (which the refresh writes in place): no reader leaves
   * $keygate_account empty for a key it finds. */
  kg_snapshot_on_accounts(db->snap, ngx_http_keygate_names_hook, db);
  /* a change of the published region in place is marked in the zone: a
   * writer that takes over never adopts a region left mid-change */
  const int on_region = ngx_http_keygate_on_region(db);
  if (on_region && !ngx_http_keygate_writing(db, 1, 0)) {
    return; /* no longer the writer: the next poll reads */
  }
  const int rc =
      kg_store_refresh(db->store, db->snap, &result, &rows, err, sizeof err);
  if (on_region) {
    (void)ngx_http_keygate_writing(db, 0,
                                   rc == 0 && (result == KG_REFRESH_UNCHANGED ||
                                               result == KG_REFRESH_APPLIED));
  }
  if (rc != 0) {
    ngx_http_keygate_failed(mcf, db, err, kg_store_last_error_kind());
    return;
  }
  switch (result) {
  case KG_REFRESH_BACKWARDS: {
    int64_t seq = 0;
    uint64_t epoch = 0;
    (void)kg_store_head(db->store, &seq, &epoch, err, sizeof err);
    ngx_http_keygate_sync_seen(db); /* for the line */
    ngx_http_keygate_refuse(db, seq,
                            seq < kg_snapshot_seq(db->snap)
                                ? NGX_HTTP_KEYGATE_BACK
                                : NGX_HTTP_KEYGATE_OTHER);
    return;
  }
  case KG_REFRESH_FULL:
    ngx_http_keygate_job_start(mcf, db);
    if (!job->running) {
      ngx_http_keygate_job_finish(mcf, db);
    }
    return;
  case KG_REFRESH_APPLIED:
    ngx_log_error(NGX_LOG_INFO, db->log, 0,
                  "keygate: applied %uz changed keys of \"%V\", change "
                  "sequence %L",
                  rows, &db->path, (long long)kg_snapshot_seq(db->snap));
    ngx_http_keygate_current(mcf, db);
    return;
  case KG_REFRESH_UNCHANGED:
  default:
    ngx_http_keygate_current(mcf, db);
    return;
  }
}

/* Each worker: the master's snapshot, brought up to date by sequence on
 * this worker's own connection; then the refresh timer. */
static ngx_int_t ngx_http_keygate_init_process(ngx_cycle_t *cycle) {
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_keygate_module);
  if (mcf == NULL || mcf->dbs.nelts == 0) {
    return NGX_OK;
  }
  if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
    return NGX_OK;
  }
  ngx_time_update();
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    ngx_http_keygate_db_t *db = dbs[i];
    db->log = cycle->log;
    db->max_staleness = mcf->max_staleness;
    if (db->unconfirmed) {
      db->fresh_ms =
          ngx_http_keygate_now_ms() - (int64_t)mcf->max_staleness - 1;
    }
    ngx_http_keygate_set_stale_at(mcf, db);
    ngx_http_keygate_poll(mcf, db);
    ngx_http_keygate_maybe_copy(mcf, db);
    ngx_http_keygate_writer_say(db);
    if (db->writer && db->snap != NULL && db->failures == 0 && !db->refused) {
      /* only names of a snapshot this poll confirmed current */
      ngx_http_keygate_publish_names(db);
    }
    ngx_http_keygate_slot_set(mcf, db);
  }
  mcf->timer.handler = ngx_http_keygate_refresh;
  mcf->timer.data = mcf;
  mcf->timer.log = cycle->log;
  mcf->timer.cancelable = 1; /* a shutting-down worker does not wait for it */
  ngx_time_update();
  ngx_add_timer(&mcf->timer, ngx_http_keygate_next_poll(mcf));
  return NGX_OK;
}

static void ngx_http_keygate_exit_process(ngx_cycle_t *cycle) {
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_keygate_module);
  if (mcf == NULL) {
    return;
  }
  if (mcf->timer.timer_set) {
    ngx_del_timer(&mcf->timer);
  }
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    ngx_http_keygate_db_t *db = dbs[i];
    ngx_http_keygate_slot_clear(db);
    ngx_http_keygate_job_reap(&db->job);
    if (db->sh != NULL && db->writer) {
      /* leave the role: the next poll of another worker takes it */
      ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)db->zone->shm.addr;
      ngx_shmtx_lock(&shpool->mutex);
      if (db->sh->writer == ngx_pid) {
        db->sh->writer = 0;
      }
      ngx_shmtx_unlock(&shpool->mutex);
    }
  }
}

/* The master, when it stops: the shared files it named go with it. */
static void ngx_http_keygate_exit_master(ngx_cycle_t *cycle) {
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_cycle_get_module_main_conf(cycle, ngx_http_keygate_module);
  if (mcf == NULL) {
    return;
  }
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    ngx_http_keygate_db_t *db = dbs[i];
    char name[NGX_MAX_PATH];
    if (db->sh == NULL || db->sh->owner != ngx_pid) {
      continue;
    }
    if (db->sh->index_no != 0 &&
        ngx_http_keygate_file(db, "index", db->sh->index_no, 0, name,
                              sizeof name) == 0) {
      (void)unlink(name);
    }
    if (db->sh->names_no != 0 &&
        ngx_http_keygate_file(db, "names", db->sh->names_no, 0, name,
                              sizeof name) == 0) {
      (void)unlink(name);
    }
  }
}

/* keygate_refresh, or 100 ms while a full load or a copy runs (pick it up
 * soon after it ends) or a reader has no index yet (the first one is
 * published soon after the start). */
static ngx_msec_t
ngx_http_keygate_next_poll(const ngx_http_keygate_main_conf_t *mcf) {
  ngx_msec_t next = mcf->refresh;
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    const ngx_http_keygate_db_t *db = dbs[i];
    if (db->job.running || (db->snap == NULL && db->rview == NULL)) {
      next = next > 100 ? 100 : next;
    }
  }
  return next;
}

static void ngx_http_keygate_refresh(ngx_event_t *ev) {
  ngx_http_keygate_main_conf_t *mcf = ev->data;
  if (ngx_exiting || ngx_quit || ngx_terminate) {
    return;
  }
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    ngx_http_keygate_poll(mcf, dbs[i]);
    ngx_http_keygate_maybe_copy(mcf, dbs[i]);
    ngx_http_keygate_writer_say(dbs[i]);
    if (dbs[i]->writer && dbs[i]->snap != NULL && dbs[i]->failures == 0 &&
        !dbs[i]->refused) {
      /* only names of a snapshot this poll confirmed current */
      ngx_http_keygate_publish_names(dbs[i]);
    }
    ngx_http_keygate_slot_set(mcf, dbs[i]);
  }
  /* nginx's cached clock does not move while a handler runs: the next
   * poll is timed from the real one. */
  ngx_time_update();
  ngx_add_timer(ev, ngx_http_keygate_next_poll(mcf));
}

/* ---- responses -------------------------------------------------------- */

/* Marks the pool cleanup record that holds a request's context; there is
 * nothing to free (the context is in the request's pool). */
static void ngx_http_keygate_ctx_cleanup(void *data) {
  (void)data;
}

/* The request's context, or NULL when none was made yet. After an internal
 * redirect (which clears every module's context) it is found again in the
 * request pool's cleanup records, as ngx_http_realip_module finds its
 * own, and put back in place. */
static ngx_http_keygate_ctx_t *
ngx_http_keygate_find_ctx(ngx_http_request_t *r) {
  ngx_http_keygate_ctx_t *ctx =
      ngx_http_get_module_ctx(r, ngx_http_keygate_module);
  if (ctx != NULL || !(r->internal || r->filter_finalize)) {
    return ctx;
  }
  for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln != NULL;
       cln = cln->next) {
    if (cln->handler != ngx_http_keygate_ctx_cleanup) {
      continue;
    }
    ctx = cln->data;
    if (ctx->request == r) {
      ngx_http_set_ctx(r, ctx, ngx_http_keygate_module);
      return ctx;
    }
  }
  return NULL;
}

/* The request's context, made on first use; NULL when out of memory. */
static ngx_http_keygate_ctx_t *ngx_http_keygate_ctx(ngx_http_request_t *r) {
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  if (ctx != NULL) {
    return ctx;
  }
  ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(r->pool, sizeof(*ctx));
  if (cln == NULL) {
    return NULL;
  }
  ctx = cln->data;
  ngx_memzero(ctx, sizeof(*ctx));
  ctx->request = r;
  ctx->decision = KG_OK;
  cln->handler = ngx_http_keygate_ctx_cleanup;
  ngx_http_set_ctx(r, ctx, ngx_http_keygate_module);
  return ctx;
}

/* The request's id ("req_" + 24 base62), made once per request so every
 * response header, body and variable of the request shows the same one.
 * NULL when the CSPRNG fails. */
static const char *ngx_http_keygate_request_id(ngx_http_keygate_ctx_t *ctx) {
  if (ctx->request_id[0] == '\0' && kg_request_id(ctx->request_id) != KG_OK) {
    ctx->request_id[0] = '\0';
    return NULL;
  }
  return ctx->request_id;
}

/* Append one response header. name and value are not copied: they must
 * live as long as the request (static, configuration or request pool). */
static ngx_table_elt_t *ngx_http_keygate_add_header(ngx_http_request_t *r,
                                                    const char *name,
                                                    size_t name_len,
                                                    const char *value,
                                                    size_t value_len) {
  ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
  if (h == NULL) {
    return NULL;
  }
  ngx_memzero(h, sizeof(*h));
  h->hash = 1;
  h->key.data = (u_char *)name;
  h->key.len = name_len;
  h->value.data = (u_char *)value;
  h->value.len = value_len;
  return h;
}

#define NGX_HTTP_KEYGATE_HEADER(r, name, value, len)                           \
  ngx_http_keygate_add_header(r, name, sizeof(name) - 1, value, len)

/*
 * Send a JSON answer: status, Content-Type: application/json, Cache-Control:
 * no-store, X-Request-Id, WWW-Authenticate when www is not empty, and body.
 * www and body are not copied (request pool, configuration or static).
 * Returns what a content handler returns (for ngx_http_finalize_request).
 */
/*
 * A refusal does not pay for the body the client announced: no "100
 * Continue" for Expect: 100-continue (expect_tested), no discarding read,
 * and no lingering close that would read it for up to lingering_time: the
 * answer goes out with Connection: close and the connection is closed
 * (a client still sending gets a reset). 1 when the request has a body
 * not yet read whole and this applies, else 0 (then the body, if any, is
 * discarded as usual).
 */
static int ngx_http_keygate_refuse_body(ngx_http_request_t *r) {
  if (r != r->main || r->request_body != NULL ||
      (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked)) {
    return 0;
  }
  /* A body nginx has read whole already costs nothing more: discard it
   * and keep the connection (pipelined requests after it still count). */
  if (!r->headers_in.chunked && r->header_in != NULL &&
      r->headers_in.content_length_n <=
          r->header_in->last - r->header_in->pos) {
    return 0;
  }
  r->expect_tested = 1;
  r->keepalive = 0;
  r->lingering_close = 0;
  /* What nginx read past the head, and a pending read event, would make
   * ngx_http_finalize_connection linger: they are the body, unread. */
  if (r->header_in != NULL) {
    r->header_in->pos = r->header_in->last;
  }
  r->connection->read->ready = 0;
  return 1;
}

static ngx_int_t
ngx_http_keygate_send_json(ngx_http_request_t *r, ngx_uint_t status,
                           const char *request_id, const ngx_str_t *www,
                           const u_char *body, size_t body_len) {
  if (status < NGX_HTTP_BAD_REQUEST || !ngx_http_keygate_refuse_body(r)) {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
      return rc;
    }
  }
  ngx_int_t rc;
  ngx_http_clear_content_length(r);
  ngx_http_clear_accept_ranges(r);
  /* After error_page, ngx_http_send_header would put nginx's own status
   * (err_status: 414, 494, ...) over the one chosen here. */
  r->err_status = 0;
  r->headers_out.status = status;
  if (status == 431) {
    /* nginx's status table ends its 4xx at 429: without a status line it
     * would send "HTTP/1.1 431 " with no reason phrase. */
    ngx_str_set(&r->headers_out.status_line,
                "431 Request Header Fields Too Large");
  } else {
    ngx_str_null(&r->headers_out.status_line);
  }
  ngx_str_set(&r->headers_out.content_type, "application/json");
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_type_lowcase = NULL;
  r->headers_out.content_length_n = (off_t)body_len;

  if (NGX_HTTP_KEYGATE_HEADER(r, "Cache-Control", "no-store", 8) == NULL ||
      NGX_HTTP_KEYGATE_HEADER(r, "X-Request-Id", request_id,
                              KG_REQUEST_ID_LEN) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  if (www != NULL && www->len > 0) {
    ngx_table_elt_t *h = NGX_HTTP_KEYGATE_HEADER(
        r, "WWW-Authenticate", (const char *)www->data, www->len);
    if (h == NULL) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    r->headers_out.www_authenticate = h;
  }

  ngx_buf_t *b = ngx_calloc_buf(r->pool);
  if (b == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
    return rc;
  }
  b->pos = (u_char *)body;
  b->last = (u_char *)body + body_len;
  b->memory = 1;
  b->last_buf = (r == r->main) ? 1 : 0;
  b->last_in_chain = 1;
  ngx_chain_t out = {b, NULL};
  return ngx_http_output_filter(r, &out);
}

/*
 * Send the answer `code` in the error shape of SPEC §1.4 with the request's
 * id: the body is kg_error_body's (any decision, refusal or server answer;
 * message NULL: its documented one), status is nginx's (kg_http_status(code)
 * for a decision), www the location's WWW-Authenticate value for it (NULL
 * or empty: none).
 */
static ngx_int_t ngx_http_keygate_send_error(ngx_http_request_t *r,
                                             ngx_http_keygate_ctx_t *ctx,
                                             ngx_uint_t status, kg_status code,
                                             const ngx_str_t *www,
                                             const char *message) {
  const char *rid = ngx_http_keygate_request_id(ctx);
  if (rid == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  u_char *body = ngx_pnalloc(r->pool, KG_ERROR_BODY_MAX);
  if (body == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  size_t len = 0;
  if (kg_error_body(code, message, message != NULL ? ngx_strlen(message) : 0,
                    rid, KG_REQUEST_ID_LEN, (char *)body, KG_ERROR_BODY_MAX,
                    &len) != KG_OK) {
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "keygate: cannot render the %s answer", kg_status_str(code));
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return ngx_http_keygate_send_json(r, status, rid, www, body, len);
}

/* Send the SPEC §1.4 answer for an error decision: its status, and the
 * WWW-Authenticate value of lcf (NULL: none, as for a refused head). */
static ngx_int_t
ngx_http_keygate_send_decision(ngx_http_request_t *r,
                               ngx_http_keygate_ctx_t *ctx, kg_status decision,
                               const ngx_http_keygate_loc_conf_t *lcf) {
  int i = kg_decision_index(decision);
  const ngx_str_t *www = lcf != NULL && i >= 0 ? &lcf->www[i] : NULL;
  return ngx_http_keygate_send_error(
      r, ctx, (ngx_uint_t)kg_http_status(decision), decision, www, NULL);
}

/* 1 when the worker may decide with db's snapshot now. */
static int ngx_http_keygate_usable(const ngx_http_keygate_db_t *db) {
  return db->snap != NULL && !db->refused &&
         (ngx_msec_int_t)(db->stale_at - ngx_current_msec) > 0;
}

/* The index to decide with now, or NULL: answer 503. The writer's own
 * snapshot when it is the published region, or when nothing is published
 * yet; else (a full load or a takeover not yet copied and published, a
 * writer still loading) the published shared index, as every reader: a
 * writer that answered from a snapshot the readers do not have yet would
 * refuse a key it deleted while the next request, on a reader, accepts it
 * again (SPEC §2: never older than what was served). A reader's: the
 * published index, mapped anew here when the writer has published
 * another, while the writer's last confirmation is within
 * keygate_max_staleness and it refuses no store. */
static const kg_index *ngx_http_keygate_index_now(ngx_http_keygate_db_t *db) {
  if (db->snap != NULL && ngx_http_keygate_usable(db) &&
      (db->sh == NULL || ngx_http_keygate_on_region(db) ||
       __atomic_load_n(&db->sh->index_no, __ATOMIC_ACQUIRE) == 0)) {
    return kg_snapshot_index(db->snap);
  }
  /* A writer whose own snapshot is too old (a new worker that took the
   * role with the master's snapshot while the store cannot be read) still
   * has the published index, confirmed by the writer before it. */
  if ((db->snap != NULL && db->refused) || db->sh == NULL ||
      __atomic_load_n(&db->sh->refused, __ATOMIC_ACQUIRE)) {
    return NULL;
  }
  const ngx_uint_t no = __atomic_load_n(&db->sh->index_no, __ATOMIC_ACQUIRE);
  if (no != db->rno) {
    ngx_http_keygate_map_index(db, no);
  }
  if (db->rview == NULL || db->rno != no ||
      __atomic_load_n(&db->sh->confirmed_ms, __ATOMIC_ACQUIRE) +
              (int64_t)db->max_staleness <=
          ngx_http_keygate_now_ms()) {
    return NULL;
  }
  return db->rview;
}

/* kg_decide under the shared index's seqlock (index.h, "One writer, many
 * readers"): kg_decide looks up with kg_index_lookup, so the module keeps
 * kg_index_lookup_stable's protocol around the whole decision — an even
 * generation before, the same one after (an acquire fence between): the
 * decision was made on a table between two whole changes, else it is made
 * again. 0; or 1 when no try saw a whole table, with the generation last
 * seen in *gen: the caller waits (ngx_http_keygate_wait). On an index that
 * is not a region the generation is 0: one try. */
#define NGX_HTTP_KEYGATE_TRIES 8
#define NGX_HTTP_KEYGATE_SPINS 4096
static int ngx_http_keygate_decide(const kg_checker *c, const kg_field *fields,
                                   size_t n, kg_span target, int64_t now,
                                   kg_decision *d, uint64_t *gen) {
  uint64_t g = 0;
  for (int t = 0; t < NGX_HTTP_KEYGATE_TRIES; t++) {
    g = kg_index_generation(c->index);
    for (int spin = 0; (g & 1u) != 0 && spin < NGX_HTTP_KEYGATE_SPINS; spin++) {
      ngx_cpu_pause();
      g = kg_index_generation(c->index);
    }
    if ((g & 1u) != 0) {
      break;
    }
    (void)kg_decide(c, fields, n, target, now, d);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (kg_index_generation(c->index) == g) {
      return 0;
    }
  }
  ngx_memzero(d, sizeof(*d));
  *gen = g;
  return 1;
}

/*
 * The table stayed mid-change through every try: a writer off its CPU in
 * the middle of a change (preempted, or its store into the file's page
 * waiting on a page fault: the first write to a clean page of a file
 * mapping goes through the file system, which can wait for its journal).
 * The request waits on a timer, 1 ms at a time, and the access phase runs
 * again (as limit_req delays a request), for at most
 * NGX_HTTP_KEYGATE_WAIT_MS from its first try: the worker serves its other
 * connections meanwhile, and SPEC §4's "no request waits over 50 ms for a
 * refresh" holds. NGX_AGAIN while it waits; NGX_DECLINED when it must be
 * answered 503: the time is up (the generation is then remembered: a
 * writer that died or hangs mid-change, so later requests that find it
 * answer at once), or it is the remembered one.
 */
#define NGX_HTTP_KEYGATE_WAIT_MS 40
static void ngx_http_keygate_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_keygate_wait(ngx_http_request_t *r,
                                       ngx_http_keygate_ctx_t *ctx,
                                       const kg_index *idx, uint64_t gen) {
  if (idx == ngx_http_keygate_stuck_index &&
      gen == ngx_http_keygate_stuck_gen) {
    return NGX_DECLINED;
  }
  const int64_t now = ngx_http_keygate_now_ms();
  if (ctx->busy_since_ms == 0) {
    ctx->busy_since_ms = now;
  }
  if (now - ctx->busy_since_ms >= NGX_HTTP_KEYGATE_WAIT_MS) {
    if ((gen & 1u) != 0) {
      ngx_http_keygate_stuck_index = idx;
      ngx_http_keygate_stuck_gen = gen;
    }
    return NGX_DECLINED;
  }
  if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
    return NGX_DECLINED;
  }
  r->read_event_handler = ngx_http_test_reading;
  r->write_event_handler = ngx_http_keygate_resume;
  r->connection->write->delayed = 1;
  ngx_add_timer(r->connection->write, 1);
  return NGX_AGAIN;
}

/* The wait's timer: run the phases again from the access phase (woken
 * early by the connection becoming writable: wait on). */
static void ngx_http_keygate_resume(ngx_http_request_t *r) {
  ngx_event_t *wev = r->connection->write;
  if (wev->delayed) {
    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
      ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
    return;
  }
  if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    return;
  }
  r->read_event_handler = ngx_http_block_reading;
  r->write_event_handler = ngx_http_core_run_phases;
  ngx_http_core_run_phases(r);
}

/* The 503 answer of a worker that cannot vouch for its keys (store
 * unreadable past keygate_max_staleness, or gone back to an older
 * sequence): service_unavailable, with Retry-After. */
static ngx_int_t
ngx_http_keygate_send_unavailable(ngx_http_request_t *r,
                                  ngx_http_keygate_ctx_t *ctx) {
  if (NGX_HTTP_KEYGATE_HEADER(r, "Retry-After", "5", 1) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return ngx_http_keygate_send_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     KG_SERVICE_UNAVAILABLE, NULL, NULL);
}

/* ---- access phase ----------------------------------------------------- */

static int ngx_http_keygate_is_key_field(const ngx_table_elt_t *h) {
  return (h->key.len == sizeof("host") - 1 &&
          ngx_strncasecmp(h->key.data, (u_char *)"host", h->key.len) == 0) ||
         (h->key.len == sizeof("authorization") - 1 &&
          ngx_strncasecmp(h->key.data, (u_char *)"authorization", h->key.len) ==
              0) ||
         (h->key.len == sizeof("x-api-key") - 1 &&
          ngx_strncasecmp(h->key.data, (u_char *)"x-api-key", h->key.len) == 0);
}

/* Copy every Authorization, X-API-Key and Host line of the request, in
 * order and duplicates included, into fields (at most cap): a key in Host
 * is a key in the URL (kg_credential_extract). A Host masked by
 * ngx_http_keygate_mask_url_fields is passed as sent. Returns the count. */
static size_t ngx_http_keygate_fields(ngx_http_request_t *r, kg_field *fields,
                                      size_t cap) {
  const ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  size_t n = 0;
  for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL;
       part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts && n < cap; i++) {
      if (!ngx_http_keygate_is_key_field(&h[i])) {
        continue;
      }
      fields[n].name.ptr = (const char *)h[i].key.data;
      fields[n].name.len = h[i].key.len;
      fields[n].value.ptr = (const char *)h[i].value.data;
      fields[n].value.len = h[i].value.len;
      if (&h[i] == r->headers_in.host && ctx != NULL &&
          ctx->host_sent.data != NULL) {
        fields[n].value.ptr = (const char *)ctx->host_sent.data;
        fields[n].value.len = ctx->host_sent.len;
      }
      n++;
    }
  }
  return n;
}

/* The names a client must not reach the upstream with under another
 * spelling: the key headers, and the identity headers the gateway injects
 * (nginx/conf/gateway.conf, docs/contract.md). */
static const ngx_str_t ngx_http_keygate_guarded[] = {
    ngx_string("authorization"), ngx_string("x-api-key"),
    ngx_string("x-keygate-account"), ngx_string("x-keygate-key-id"),
    ngx_string("x-request-id")};

/* 1 when h's name holds a '_' and, case-folded with '_' read as '-',
 * equals a guarded name: what a CGI-style upstream (HTTP_X_API_KEY) or a
 * framework that folds '_' reads as that header. */
static int ngx_http_keygate_is_lookalike(const ngx_table_elt_t *h) {
  if (ngx_strlchr(h->key.data, h->key.data + h->key.len, '_') == NULL) {
    return 0;
  }
  for (size_t g = 0;
       g < sizeof ngx_http_keygate_guarded / sizeof ngx_http_keygate_guarded[0];
       g++) {
    const ngx_str_t *name = &ngx_http_keygate_guarded[g];
    if (h->key.len != name->len) {
      continue;
    }
    size_t i = 0;
    while (i < name->len) {
      u_char c = ngx_tolower(h->key.data[i]);
      if ((c == '_' ? '-' : c) != name->data[i]) {
        break;
      }
      i++;
    }
    if (i == name->len) {
      return 1;
    }
  }
  return 0;
}

/* What replaces a value or target that holds a key, in logs and in the
 * request passed on. */
static u_char ngx_http_keygate_mark[] = "<redacted>";

/* 1 for a byte of RFC 9110's token68 (what a key is made of). */
static int ngx_http_keygate_token68(u_char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/' || c == '=';
}

/*
 * Mask each run of the policy's prefix (any case) and the token68 bytes
 * after it in *s as kg_key_hint's "sk_live_****Ab3x", the rest kept; *s is
 * left alone when it holds no prefix. 1 when *s changed, 0 when not,
 * -1 when memory ran out.
 */
static int ngx_http_keygate_mask_span(ngx_http_request_t *r,
                                      const kg_key_policy *p, ngx_str_t *s) {
  const size_t plen = p->prefix_len;
  if (s->len < plen ||
      ngx_strlcasestrn(s->data, s->data + s->len, (u_char *)p->prefix,
                       plen - 1) == NULL) {
    return 0;
  }
  /* A hint is at most KG_KEY_HINT_MAX - 1 bytes and replaces at least
   * the prefix: each run grows the span by less than that. */
  size_t cap = s->len + (s->len / plen + 1) * KG_KEY_HINT_MAX;
  u_char *out = ngx_pnalloc(r->pool, cap);
  if (out == NULL) {
    return -1;
  }
  u_char *o = out;
  u_char *q = s->data;
  u_char *end = s->data + s->len;
  u_char *hit;
  while ((hit = ngx_strlcasestrn(q, end, (u_char *)p->prefix, plen - 1)) !=
         NULL) {
    o = ngx_cpymem(o, q, (size_t)(hit - q));
    u_char *k = hit + plen;
    while (k < end && ngx_http_keygate_token68(*k)) {
      k++;
    }
    char hint[KG_KEY_HINT_MAX];
    size_t n =
        kg_key_hint(p, (const char *)hit, (size_t)(k - hit), hint, sizeof hint);
    o = ngx_cpymem(o, hint, n);
    q = k;
  }
  o = ngx_cpymem(o, q, (size_t)(end - q));
  s->data = out;
  s->len = (size_t)(o - out);
  return 1;
}

/*
 * With keygate_hide_credentials, a key sent in any other field than the
 * key headers (a cookie, Proxy-Authorization, X-Forwarded-Authorization,
 * a header of the client's own naming) reaches the upstream masked too:
 * ngx_http_keygate_mask_span over each value, and over each name (with
 * `ignore_invalid_headers off` a name such as "X-sk_live_..." passes
 * nginx; a review found it forwarded whole). A masked name is still a
 * field name ('*' is a tchar), its lowercase form and hash made again so
 * that proxy_set_header and $http_ see the masked one. Host and Referer
 * were masked whole before (a key there is a URL's); the key lines
 * themselves go. The scan is a search for the prefix in each name and
 * value, a valid request's only. It runs before ngx_http_keygate_hide
 * copies the list, on the elements nginx's own pointers name
 * (headers_in.user_agent, the cookies and x_forwarded_for arrays): so
 * $http_user_agent, $http_cookie, $cookie_NAME and
 * $proxy_add_x_forwarded_for read the masked values too (a review found
 * them whole in a proxy_set_header and a log_format).
 */
static ngx_int_t ngx_http_keygate_mask_list(ngx_http_request_t *r,
                                            ngx_list_t *list,
                                            const kg_key_policy *p, int keys) {
  if (p->prefix_len == 0) {
    return NGX_OK;
  }
  for (ngx_list_part_t *part = &list->part; part != NULL; part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      if (!keys && ngx_http_keygate_is_key_field(&h[i])) {
        continue;
      }
      if (h[i].value.data != ngx_http_keygate_mark &&
          ngx_http_keygate_mask_span(r, p, &h[i].value) < 0) {
        return NGX_ERROR;
      }
      int named = ngx_http_keygate_mask_span(r, p, &h[i].key);
      if (named < 0) {
        return NGX_ERROR;
      }
      if (named > 0) {
        u_char *low = ngx_pnalloc(r->pool, h[i].key.len);
        if (low == NULL) {
          return NGX_ERROR;
        }
        h[i].hash = ngx_hash_strlow(low, h[i].key.data, h[i].key.len);
        h[i].lowcase_key = low;
      }
    }
  }
  return NGX_OK;
}

static ngx_int_t ngx_http_keygate_mask_values(ngx_http_request_t *r,
                                              const kg_key_policy *p,
                                              int keys) {
  return ngx_http_keygate_mask_list(r, &r->headers_in.headers, p, keys);
}

/*
 * Rebuild the request's header list without the lines no upstream may
 * receive: names that read as a key or identity header once '_' is read
 * as '-' (always), and the key lines themselves when keys is set
 * (keygate_hide_credentials). The list is left alone when nothing goes.
 */
static ngx_int_t ngx_http_keygate_hide(ngx_http_request_t *r, int keys) {
  ngx_list_t old = r->headers_in.headers;
  ngx_uint_t count = 0;
  ngx_uint_t drop = 0;
  for (ngx_list_part_t *part = &old.part; part != NULL; part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      drop += (keys && ngx_http_keygate_is_key_field(&h[i])) ||
              ngx_http_keygate_is_lookalike(&h[i]);
    }
    count += part->nelts;
  }
  if (drop == 0) {
    return NGX_OK;
  }
  /* nginx's own pointers (headers_in.user_agent, the cookies and
   * x_forwarded_for arrays) keep naming the old elements, which the
   * variables read: the log phase masks them too (review 115) */
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  if (ctx != NULL && ctx->before_hide.part.nelts == 0) {
    ctx->before_hide = old;
  }
  if (ngx_list_init(&r->headers_in.headers, r->pool, count > 0 ? count : 1,
                    sizeof(ngx_table_elt_t)) != NGX_OK) {
    return NGX_ERROR;
  }
  for (ngx_list_part_t *part = &old.part; part != NULL; part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      if ((keys && ngx_http_keygate_is_key_field(&h[i])) ||
          ngx_http_keygate_is_lookalike(&h[i])) {
        continue;
      }
      ngx_table_elt_t *copy = ngx_list_push(&r->headers_in.headers);
      if (copy == NULL) {
        return NGX_ERROR;
      }
      *copy = h[i];
    }
  }
  if (keys) {
    r->headers_in.authorization = NULL;
  }
  return NGX_OK;
}

/*
 * The request-target as the client sent it, undecoded: what the request
 * line holds between the method and the protocol (the whole absolute form
 * too, where r->unparsed_uri starts at the path). Taken once per request,
 * before any redaction, and kept in ctx: internal redirects and the
 * bad-request location see the same bytes. Empty when nginx did not parse
 * a request line.
 */
static ngx_str_t ngx_http_keygate_target(ngx_http_request_t *r,
                                         ngx_http_keygate_ctx_t *ctx) {
  if (ctx->target_set) {
    return ctx->target;
  }
  ngx_str_null(&ctx->target);
  if (r->request_line.data != NULL &&
      r->request_line.len > r->method_name.len) {
    u_char *line = r->request_line.data;
    u_char *end = line + r->request_line.len;
    u_char *p = line;
    if (r->method_name.data == line &&
        r->method_name.len <= (size_t)(end - line)) {
      p += r->method_name.len;
    } else {
      /* no method nginx took from this line (its default "GET" for a line
       * it could not parse): the target starts after the first word, or is
       * the whole line when it has one word */
      u_char *sp = ngx_strlchr(line, end, ' ');
      p = sp != NULL ? sp : line;
    }
    while (p < end && *p == ' ') {
      p++;
    }
    u_char *stop = end;
    if (r->http_protocol.len > 0 && r->http_protocol.data > p &&
        r->http_protocol.data <= end) {
      stop = r->http_protocol.data;
    } else {
      /* nginx refused the line before it recorded the protocol (a control
       * byte in the target, 414): the last word is the protocol when it
       * reads like one */
      u_char *sp = end;
      while (sp > p && sp[-1] != ' ') {
        sp--;
      }
      if (sp > p && end - sp >= 5 &&
          ngx_strncasecmp(sp, (u_char *)"HTTP/", 5) == 0) {
        stop = sp;
      }
    }
    while (stop > p && stop[-1] == ' ') {
      stop--;
    }
    ctx->target.data = p;
    ctx->target.len = (size_t)(stop - p);
  } else if (r->unparsed_uri.len > 0) {
    ctx->target = r->unparsed_uri;
  }
  ctx->target_set = 1;
  return ctx->target;
}

/* The part of target before its first '?' (the path), and after it (the
 * query, without the '?'). */
static kg_span ngx_http_keygate_path_of(ngx_str_t target) {
  u_char *q = ngx_strlchr(target.data, target.data + target.len, '?');
  kg_span s = {(const char *)target.data,
               q != NULL ? (size_t)(q - target.data) : target.len};
  return s;
}

static kg_span ngx_http_keygate_query_of(ngx_str_t target) {
  u_char *q = ngx_strlchr(target.data, target.data + target.len, '?');
  kg_span s = {NULL, 0};
  if (q != NULL) {
    s.ptr = (const char *)(q + 1);
    s.len = (size_t)(target.data + target.len - q - 1);
  }
  return s;
}

/*
 * kg_target_deep over s[0..len), its scratch from the pool, taken only for
 * a target with a '%' (else kg_target_deep costs one search). SPEC §1.1's
 * scan decodes twice; a key's body is plain text at any depth, so a
 * target still holding an escape after two decodings is decoded up to 8
 * more times and searched for the prefix. A level that holds it is
 * decided instead of the target (kg_target_deep's *level:
 * api_key_in_query) and redacted from the logs; out of memory, or still
 * decoding after 8 levels, the target is redacted (fail closed) and
 * decided as sent.
 */
static kg_status ngx_http_keygate_deep(ngx_pool_t *pool, const kg_key_policy *p,
                                       const u_char *s, size_t len,
                                       kg_span *level) {
  const kg_span target = {(const char *)s, len};
  char *scratch = NULL;
  if (len >= 3 && ngx_strlchr((u_char *)s, (u_char *)s + len, '%') != NULL) {
    scratch = ngx_pnalloc(pool, len);
    if (scratch == NULL) {
      *level = target;
      return KG_E_NOMEM;
    }
  }
  return kg_target_deep(p, target, scratch, scratch != NULL ? len : 0, level);
}

/* 1 when s[0..len) is to be redacted for a key kg_target_scan does not
 * see (ngx_http_keygate_deep says anything but KG_OK). */
static int ngx_http_keygate_deep_key(ngx_pool_t *pool, const kg_key_policy *p,
                                     const u_char *s, size_t len) {
  kg_span level;
  return ngx_http_keygate_deep(pool, p, s, len, &level) != KG_OK;
}

/*
 * A key in the request-target must reach no log. Replace what nginx logs
 * of the target: the request line ($request), $request_uri and, when the
 * key is in the path, $uri. path_key: the whole target becomes
 * "<redacted>"; else the query alone ("?<redacted>"). A request passed on
 * with its query (keygate_query_keys ignore) stops using r->unparsed_uri
 * for the upstream URL (valid_unparsed_uri = 0): proxy_pass then builds it
 * from $uri and $args, as it does after a rewrite. The error log's fields
 * are redacted when a line is written (ngx_http_keygate_log_handler), for
 * every request, also before this runs.
 */
static void ngx_http_keygate_redact(ngx_http_request_t *r,
                                    ngx_http_keygate_ctx_t *ctx, int path_key) {
  static const char mark[] = "<redacted>";
  if (ctx->redacted) {
    return;
  }
  ngx_str_t target = ngx_http_keygate_target(r, ctx);
  kg_span path = ngx_http_keygate_path_of(target);
  size_t keep = path_key ? 0 : path.len + 1; /* path and its '?' */
  size_t tlen = keep + sizeof(mark) - 1;
  size_t mlen = r->method_name.len;
  size_t plen = r->http_protocol.len;
  u_char *line = ngx_pnalloc(r->pool, mlen + 1 + tlen + 1 + plen);
  if (line == NULL) {
    /* cut everything rather than keep the key */
    r->request_line.len = mlen;
    r->unparsed_uri.len = 0;
    r->uri.len = 0;
    return;
  }
  u_char *p = ngx_cpymem(line, r->method_name.data, mlen);
  *p++ = ' ';
  u_char *t = p;
  p = ngx_cpymem(p, target.data, keep);
  p = ngx_cpymem(p, mark, sizeof(mark) - 1);
  if (plen > 0) {
    *p++ = ' ';
    p = ngx_cpymem(p, r->http_protocol.data, plen);
  }
  r->request_line.data = line;
  r->request_line.len = (size_t)(p - line);
  r->unparsed_uri.data = t;
  r->unparsed_uri.len = tlen;
  r->valid_unparsed_uri = 0;
  if (path_key) {
    /* $uri is the decoded path: it holds the key too. The request is
     * refused (a key in the path is never ignored), so nothing routes by
     * it any more. */
    r->uri.data = (u_char *)mark;
    r->uri.len = sizeof(mark) - 1;
  }
  ctx->redacted = 1;
}

/*
 * The error log's context of a request: nginx's own handler
 * (ngx_http_log_error_handler) writes the request line ("request:"), a
 * subrequest's URI, the upstream URL ("upstream:"), Host and Referer, as
 * they are, at every level: a connection limit's notice before the access
 * phase, a broken body, an upstream failure, in any location, keygate's or
 * not. This handler, installed on every request (post-read phase, and the
 * bad-request handler for heads nginx refused), hands it the request with
 * each of those that holds a key (kg_target_has_key, the server{}'s
 * policy) replaced for the call: a URL whose path is clean keeps it
 * ("GET /path?<redacted> HTTP/1.1"), else "<redacted>". Costs nothing
 * until a line is logged.
 */
static ngx_http_log_handler_pt ngx_http_keygate_next_log_handler;

/* v, or a redacted copy when v holds a key. */
static ngx_str_t ngx_http_keygate_log_safe(ngx_http_request_t *r,
                                           const kg_key_policy *p,
                                           ngx_str_t v) {
  static const ngx_str_t mark = ngx_string("<redacted>");
  kg_span all = {(const char *)v.data, v.len};
  if (v.len == 0 || v.data == NULL || v.data == ngx_http_keygate_mark ||
      (!kg_target_has_key(p, all) &&
       !ngx_http_keygate_deep_key(r->pool, p, v.data, v.len))) {
    return v;
  }
  u_char *q = ngx_strlchr(v.data, v.data + v.len, '?');
  kg_span path = {(const char *)v.data,
                  q != NULL ? (size_t)(q - v.data) : v.len};
  if (q == NULL || kg_target_has_key(p, path) ||
      ngx_http_keygate_deep_key(r->pool, p, v.data, path.len)) {
    return mark;
  }
  /* The query ends at the space before a request line's protocol. */
  u_char *sp = ngx_strlchr(q, v.data + v.len, ' ');
  size_t keep = (size_t)(q + 1 - v.data);
  size_t tail = sp != NULL ? (size_t)(v.data + v.len - sp) : 0;
  ngx_str_t out;
  out.data = ngx_pnalloc(r->pool, keep + mark.len + tail);
  if (out.data == NULL) {
    return mark;
  }
  u_char *o = ngx_cpymem(out.data, v.data, keep);
  o = ngx_cpymem(o, mark.data, mark.len);
  if (tail > 0) {
    o = ngx_cpymem(o, sp, tail);
  }
  out.len = (size_t)(o - out.data);
  return out;
}

static u_char *ngx_http_keygate_log_handler(ngx_http_request_t *r,
                                            ngx_http_request_t *sr, u_char *buf,
                                            size_t len) {
  const ngx_http_keygate_loc_conf_t *lcf =
      r->loc_conf != NULL
          ? ngx_http_get_module_loc_conf(r, ngx_http_keygate_module)
          : NULL;
  if (lcf == NULL) {
    return ngx_http_keygate_next_log_handler(r, sr, buf, len);
  }
  const kg_key_policy *p = &lcf->policy;
  /* The request line; before nginx parsed it whole, what it prints is
   * the raw line from request_start. */
  ngx_str_t line = r->request_line;
  ngx_str_t raw = line;
  if (raw.data == NULL && r->request_start != NULL && r->header_in != NULL &&
      r->request_start >= r->header_in->start &&
      r->request_start < r->header_in->last) {
    u_char *e = r->request_start;
    while (e < r->header_in->last && *e != CR && *e != LF) {
      e++;
    }
    raw.data = r->request_start;
    raw.len = (size_t)(e - r->request_start);
  }
  ngx_str_t safe = ngx_http_keygate_log_safe(r, p, raw);
  if (safe.data != raw.data) {
    r->request_line = safe;
  }
  ngx_str_t sr_uri = sr->uri;
  if (sr != r) {
    sr->uri = ngx_http_keygate_log_safe(r, p, sr_uri);
  }
  ngx_http_upstream_t *u = sr->upstream;
  ngx_str_t u_uri;
  ngx_str_null(&u_uri);
  if (u != NULL) {
    u_uri = u->uri;
    u->uri = ngx_http_keygate_log_safe(r, p, u_uri);
  }
  ngx_table_elt_t *host = r->headers_in.host;
  ngx_table_elt_t *referer = r->headers_in.referer;
  ngx_str_t host_v = host != NULL ? host->value : sr_uri;
  ngx_str_t referer_v = referer != NULL ? referer->value : sr_uri;
  if (host != NULL) {
    host->value = ngx_http_keygate_log_safe(r, p, host_v);
  }
  if (referer != NULL) {
    referer->value = ngx_http_keygate_log_safe(r, p, referer_v);
  }

  u_char *end = ngx_http_keygate_next_log_handler(r, sr, buf, len);

  r->request_line = line;
  sr->uri = sr_uri;
  if (u != NULL) {
    u->uri = u_uri;
  }
  if (host != NULL) {
    host->value = host_v;
  }
  if (referer != NULL) {
    referer->value = referer_v;
  }
  return end;
}

/* Put the handler above on r's main request (once). */
static void ngx_http_keygate_guard_log(ngx_http_request_t *r) {
  ngx_http_request_t *m = r->main;
  if (m->log_handler != ngx_http_keygate_log_handler &&
      m->log_handler != NULL) {
    ngx_http_keygate_next_log_handler = m->log_handler;
    m->log_handler = ngx_http_keygate_log_handler;
  }
}

/*
 * The span kg_decide checks for keys in the URL, with the request's logs
 * made safe first. The whole request-target as sent (SPEC §1.1,
 * docs/contract.md): a key in the path, after ';', encoded once or twice
 * is api_key_in_query like one in the query. keygate_query_keys ignore
 * takes the query (after the first '?') out of the check; the path is
 * always checked. Whatever the mode, a target holding a key is redacted.
 */
static kg_span
ngx_http_keygate_checked_target(ngx_http_request_t *r,
                                ngx_http_keygate_ctx_t *ctx,
                                const ngx_http_keygate_loc_conf_t *lcf) {
  ngx_str_t raw = ngx_http_keygate_target(r, ctx);
  kg_span whole = {(const char *)raw.data, raw.len};
  kg_span path = ngx_http_keygate_path_of(raw);
  kg_span query = ngx_http_keygate_query_of(raw);
  int path_key = path.len > 0 && kg_target_has_key(&lcf->policy, path);
  if (path_key || (query.len > 0 && kg_target_has_key(&lcf->policy, query))) {
    ngx_http_keygate_redact(r, ctx, path_key);
  } else if (ngx_http_keygate_deep_key(r->pool, &lcf->policy,
                                       (const u_char *)path.ptr, path.len)) {
    ngx_http_keygate_redact(r, ctx, 1);
  } else if (ngx_http_keygate_deep_key(r->pool, &lcf->policy,
                                       (const u_char *)query.ptr, query.len)) {
    ngx_http_keygate_redact(r, ctx, 0);
  }
  /* A key under more encodings than SPEC §1.1's two reaches no upstream
   * either: the level that shows it is decided (api_key_in_query), as
   * keygate check decides. */
  const kg_span checked =
      lcf->query_keys == NGX_HTTP_KEYGATE_QUERY_IGNORE ? path : whole;
  kg_span level;
  const kg_status deep = ngx_http_keygate_deep(
      r->pool, &lcf->policy, (const u_char *)checked.ptr, checked.len, &level);
  return deep == KG_URL_KEY_PREFIX ? level : checked;
}

/*
 * Host and Referer are URLs (Host the request's own authority): nginx
 * passes Referer to the upstream and makes $host of Host. One holding a
 * key is replaced by "<redacted>" as soon as the head is read: in the
 * post-read phase, before any location or module, and in the bad-request
 * handler for heads nginx refused; every Referer line, not only the one
 * nginx keeps in headers_in.referer. The Host as sent stays in ctx, for the
 * decision (a key there is api_key_in_query); a key in Referer changes no
 * decision (the previous page's URL is not this request's). A Referer
 * holding a key under more encodings than SPEC §1.1's two goes too
 * (kg_target_deep, as the error log's handler judges it). NGX_ERROR: out
 * of memory.
 */

static int ngx_http_keygate_field_has_key(const ngx_table_elt_t *h,
                                          const kg_key_policy *p) {
  if (h == NULL || h->value.data == ngx_http_keygate_mark) {
    return 0;
  }
  kg_span v = {(const char *)h->value.data, h->value.len};
  return kg_target_has_key(p, v);
}

static ngx_int_t ngx_http_keygate_mask_url_fields(ngx_http_request_t *r,
                                                  const kg_key_policy *p) {
  static const size_t len = sizeof ngx_http_keygate_mark - 1;
  ngx_table_elt_t *host = r->headers_in.host;
  kg_span deep = {NULL, 0};
  kg_status deep_st = KG_OK;
  if (host != NULL && host->value.data != ngx_http_keygate_mark) {
    deep_st = ngx_http_keygate_deep(r->pool, p, host->value.data,
                                    host->value.len, &deep);
  }
  if (ngx_http_keygate_field_has_key(host, p) || deep_st != KG_OK) {
    ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_ctx(r);
    if (ctx == NULL) {
      return NGX_ERROR;
    }
    ctx->host_sent = host->value;
    if (deep_st == KG_URL_KEY_PREFIX) {
      /* the level that shows the key is decided: api_key_in_query */
      ctx->host_sent.data = (u_char *)deep.ptr;
      ctx->host_sent.len = deep.len;
    }
    host->value.data = ngx_http_keygate_mark;
    host->value.len = len;
    /* $host: the name nginx took from Host, the key lowercased */
    r->headers_in.server.data = ngx_http_keygate_mark;
    r->headers_in.server.len = len;
  }
  for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL;
       part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      if (h[i].key.len != sizeof("referer") - 1 ||
          ngx_strncasecmp(h[i].key.data, (u_char *)"referer", h[i].key.len) !=
              0 ||
          (!ngx_http_keygate_field_has_key(&h[i], p) &&
           !ngx_http_keygate_deep_key(r->pool, p, h[i].value.data,
                                      h[i].value.len))) {
        continue;
      }
      if (&h[i] == r->headers_in.referer) {
        ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_ctx(r);
        if (ctx == NULL) {
          return NGX_ERROR;
        }
        ctx->referer_sent = h[i].value;
      }
      h[i].value.data = ngx_http_keygate_mark;
      h[i].value.len = len;
    }
  }
  return NGX_OK;
}

/* The post-read phase: every request of every server, before anything can
 * log it. The policy (the key prefix) is the server{}'s. */
static ngx_int_t ngx_http_keygate_post_read_handler(ngx_http_request_t *r) {
  const ngx_http_keygate_loc_conf_t *lcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
  ngx_http_keygate_guard_log(r);
  if (ngx_http_keygate_mask_url_fields(r, &lcf->policy) != NGX_OK) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return NGX_DECLINED;
}

/*
 * The log phase, first of its handlers: every request of every server,
 * also one nginx gave up on before any phase ran (a head never finished:
 * 408, a client that closed mid-head, a malformed line after a keep-alive
 * request: no error_page, no module handler) and one whose method or
 * protocol holds a key. What an access log can show of the request line
 * — $request_method, $uri, $server_protocol, $request, $request_uri — is
 * replaced where it holds a key (kg_target_has_key, or encoded past its
 * depth): <redacted>, or the query alone (ngx_http_keygate_log_safe).
 * A few scans of short strings, once per request.
 */
static void ngx_http_keygate_log_field(ngx_http_request_t *r,
                                       const kg_key_policy *p, ngx_str_t *v) {
  if (v->len > 0 && v->data != NULL) {
    *v = ngx_http_keygate_log_safe(r, p, *v);
  }
}

/* Every value of list's elements made empty (names too: a key can be
 * one under ignore_invalid_headers off). */
static void ngx_http_keygate_empty_values(ngx_list_t *list) {
  for (ngx_list_part_t *part = &list->part; part != NULL; part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      ngx_str_null(&h[i].value);
      h[i].key.len = 0;
    }
  }
}

static ngx_int_t ngx_http_keygate_log_phase_handler(ngx_http_request_t *r) {
  if (r->loc_conf == NULL) {
    return NGX_OK;
  }
  const ngx_http_keygate_loc_conf_t *lcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
  if (lcf == NULL) {
    return NGX_OK;
  }
  const kg_key_policy *p = &lcf->policy;
  if (r->request_line.data == NULL && r->request_start != NULL &&
      r->header_in != NULL && r->request_start >= r->header_in->start &&
      r->request_start < r->header_in->last) {
    /* a line nginx never finished: $request is made from request_start
     * when it is logged (ngx_http_variable_request_line), up to CR or LF;
     * make it here, so it is redacted with the rest */
    u_char *e = r->request_start;
    while (e < r->header_in->last && *e != CR && *e != LF) {
      e++;
    }
    r->request_line.data = r->request_start;
    r->request_line.len = (size_t)(e - r->request_start);
  }
  ngx_http_keygate_log_field(r, p, &r->method_name);
  ngx_http_keygate_log_field(r, p, &r->http_protocol);
  ngx_http_keygate_log_field(r, p, &r->request_line);
  ngx_http_keygate_log_field(r, p, &r->unparsed_uri);
  ngx_http_keygate_log_field(r, p, &r->uri);
  /* A log_format with header variables ($http_authorization, $http_cookie,
   * $cookie_NAME, $http_user_agent, ...) reads the field lines: masked
   * here, the key lines too, unless the access phase masked them and
   * removed the key lines (a valid request under
   * keygate_hide_credentials). Refused requests, requests nginx refused
   * itself and valid ones whose key went upstream: each key in them is
   * its hint in the log (a review found refused requests' keys whole in
   * such a log). The upstream has had the request by now. */
  if (r != r->main) {
    /* a subrequest's field lines are its main request's (nginx copies
     * headers_in by value): masked in place they would reach the main
     * request's upstream as hints, before it is proxied (review 115,
     * auth_request with log_subrequest on). Left as they are. */
    return NGX_OK;
  }
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  if (ctx == NULL || !ctx->masked) {
    /* the list as rebuilt (without look-alikes), and the elements nginx's
     * own pointers still name when it was (review 115) */
    ngx_list_t *before = ctx != NULL && ctx->before_hide.part.nelts > 0
                             ? &ctx->before_hide
                             : NULL;
    if ((before != NULL &&
         ngx_http_keygate_mask_list(r, before, p, 1) != NGX_OK) ||
        ngx_http_keygate_mask_values(r, p, 1) != NGX_OK) {
      /* out of memory: the values cannot be masked, so they go empty
       * where every variable reads them (the lists' elements) */
      ngx_http_keygate_empty_values(&r->headers_in.headers);
      if (before != NULL) {
        ngx_http_keygate_empty_values(before);
      }
    }
    if (ctx != NULL) {
      ctx->masked = 1;
    }
  }
  return NGX_OK;
}

/* Remember the decision and what it found, for the variables. The account
 * name is copied: the snapshot may be swapped before the log phase. */
static void ngx_http_keygate_remember(ngx_http_request_t *r,
                                      ngx_http_keygate_ctx_t *ctx,
                                      ngx_http_keygate_db_t *db,
                                      const kg_decision *d) {
  ctx->db = db;
  ctx->decision = d->decision;
  ctx->found = 0;
  ctx->key_id_text[0] = '\0';
  ngx_str_null(&ctx->account);
  if (!d->found) {
    return;
  }
  ctx->found = 1;
  ctx->key_id = d->record.key_id;
  size_t len = 0;
  const char *account = NULL;
  if (db->snap != NULL) {
    account = kg_snapshot_account(db->snap, d->record.account_id);
    len = account != NULL ? ngx_strlen(account) : 0;
  } else if (db->sh != NULL) {
    account = ngx_http_keygate_names_find(db, d->record.account_id, &len);
  }
  if (account != NULL && len > 0) {
    ctx->account.data = ngx_pnalloc(r->pool, len);
    if (ctx->account.data != NULL) {
      ngx_memcpy(ctx->account.data, account, len);
      ctx->account.len = len;
    }
  }
}

static ngx_int_t ngx_http_keygate_access_handler(ngx_http_request_t *r) {
  ngx_http_keygate_loc_conf_t *lcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
  if (!lcf->enable) {
    return NGX_DECLINED;
  }
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_get_module_main_conf(r, ngx_http_keygate_module);
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_ctx(r);
  if (ctx == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  if (r->http_version < NGX_HTTP_VERSION_10) {
    /* HTTP/0.9 has no status line and no headers: answer as HTTP/1.0 and
     * close, through error_page 400 (keygate_bad_request), so the client
     * gets the JSON shape and its X-Request-Id. */
    r->http_version = NGX_HTTP_VERSION_10;
    r->keepalive = 0;
    return NGX_HTTP_BAD_REQUEST;
  }
  if (ctx->decision == KG_VALID && ctx->db == lcf->db) {
    /* The access phase runs again after an internal redirect, maybe on a
     * request whose key lines are already hidden: the decision stands. A
     * location with another store decides again. */
    if (lcf->hide_credentials && !ctx->hidden) {
      if (ngx_http_keygate_mask_values(r, &lcf->policy, 0) != NGX_OK ||
          ngx_http_keygate_hide(r, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
      }
      ctx->hidden = 1;
      ctx->masked = 1;
    }
    return NGX_OK;
  }
  /* The target is checked (and a key in it redacted from $uri and the
   * logs) before anything else, whatever is answered: also the 503 below. */
  const kg_span query = ngx_http_keygate_checked_target(r, ctx, lcf);
  const kg_index *idx = ngx_http_keygate_index_now(lcf->db);
  kg_decision d;
  int decided = -1;
  kg_field fields[NGX_HTTP_KEYGATE_MAX_FIELDS];
  size_t n = ngx_http_keygate_fields(r, fields, NGX_HTTP_KEYGATE_MAX_FIELDS);
  if (idx != NULL) {
    kg_checker checker = {lcf->policy, mcf->digester, idx};
    uint64_t gen = 0;
    decided = ngx_http_keygate_decide(&checker, fields, n, query,
                                      (int64_t)ngx_time(), &d, &gen);
    if (decided == 1 && ngx_http_keygate_wait(r, ctx, idx, gen) == NGX_AGAIN) {
      return NGX_AGAIN;
    }
  }
  if (decided != 0) {
    /* Never decide with keys older than the server vouches for: no stale
     * allow, and no stale refusal either. What needs no key of the store
     * is answered as always, in SPEC §1.3's order (a key in the URL, two
     * keys, none, a malformed one or a wrong checksum): the request made
     * with an empty index; only a well-formed key, which the store would
     * decide, waits for it (503). */
    kg_checker none = {lcf->policy, mcf->digester, NULL};
    (void)kg_decide(&none, fields, n, query, (int64_t)ngx_time(), &d);
    if (d.decision == KG_VALID ||
        (d.decision == KG_INVALID_API_KEY && d.detail == KG_KEY_UNKNOWN) ||
        !kg_status_is_decision(d.decision)) {
      ctx->db = lcf->db;
      ctx->decision = KG_SERVICE_UNAVAILABLE;
      ngx_http_finalize_request(r, ngx_http_keygate_send_unavailable(r, ctx));
      return NGX_DONE;
    }
  }
  ngx_http_keygate_remember(r, ctx, lcf->db, &d);

  if (d.decision == KG_VALID) {
    /* Look-alike names go whatever keygate_hide_credentials says: an
     * upstream that folds '_' into '-' would take X_API_Key for the key
     * or X_Keygate_Account for the gateway's word (docs/contract.md). */
    if ((lcf->hide_credentials &&
         ngx_http_keygate_mask_values(r, &lcf->policy, 0) != NGX_OK) ||
        ngx_http_keygate_hide(r, lcf->hide_credentials != 0) != NGX_OK) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx->hidden = lcf->hide_credentials ? 1 : 0;
    ctx->masked = ctx->hidden;
    return NGX_OK;
  }
  if (!kg_status_is_decision(d.decision)) {
    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "keygate: decision failed: %s", kg_status_str(d.decision));
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  /* The answer is sent here, not through error_page: send and finalize as
   * the content phase would, and stop the phases. */
  ngx_http_finalize_request(
      r, ngx_http_keygate_send_decision(r, ctx, d.decision, lcf));
  return NGX_DONE;
}

/* ---- bad requests ------------------------------------------------------ */

/*
 * keygate_bad_request — the content handler of the location that
 * `error_page 400 405 413 414 494 501 505` points at: every answer nginx
 * gives by itself before the access phase (a second Authorization line,
 * whitespace before a colon, NUL or a bare CR in a field, a missing Host,
 * TRACE, a request line too long, a header too large, an unknown
 * Transfer-Encoding, HTTP/2.0 on a plain port) answers in the JSON shape of
 * SPEC §1.4 with X-Request-Id and Cache-Control: no-store. SPEC §1.3's
 * precedence holds where the request line is readable (also a line too
 * long to be one): a key in the request-target is api_key_in_query, then a
 * key header twice (or two different keys) is ambiguous_api_key. Anything
 * else keeps nginx's status, with the code and message of the refusal the
 * core finds in the same head (kg_head_parse, kg_head_screen: what
 * `keygate check` answers), so the message names the cause
 * (docs/server.md).
 */

/* The refusal for nginx's own status when the core names no cause. */
static kg_status ngx_http_keygate_refusal_of(ngx_uint_t status) {
  switch (status) {
  case NGX_HTTP_NOT_ALLOWED:
    return KG_E_METHOD_NOT_ALLOWED;
  case NGX_HTTP_REQUEST_URI_TOO_LARGE:
    return KG_E_URI_TOO_LONG;
  case NGX_HTTP_REQUEST_HEADER_TOO_LARGE:
    return KG_E_HEADER_TOO_LARGE;
  case NGX_HTTP_NOT_IMPLEMENTED:
    return KG_E_UNSUPPORTED_TRANSFER_CODING;
  case NGX_HTTP_VERSION_NOT_SUPPORTED:
    return KG_E_VERSION_NOT_SUPPORTED;
  default:
    return KG_E_BAD_FIELD_NAME; /* the generic "request is malformed" */
  }
}

/* The status a client sees for nginx's: 494 is nginx's private code for
 * a header too large, 431 is RFC 6585's. */
static ngx_uint_t ngx_http_keygate_public_status(ngx_uint_t status) {
  return status == NGX_HTTP_REQUEST_HEADER_TOO_LARGE ? 431 : status;
}

/* How much more of a line too long the module reads to look for a key,
 * and for how long it waits for it at most. */
#define NGX_HTTP_KEYGATE_LINE_MORE 65536
#define NGX_HTTP_KEYGATE_LINE_WAIT_MS 5000

/*
 * The request line nginx refused, when nginx did not parse it whole (a
 * line too long: 414; a line that is not one): from the request's start to
 * the end of the line. nginx stops reading at its buffer's end, so the
 * rest of the line is read here from the socket, at most 64 KiB more: SPEC
 * §1.3 puts a key in the URL before every other answer, also one at the
 * end of a line too long (the connection is closed after the answer
 * anyway). NGX_OK when the line is whole in ctx->line (its end, the
 * buffer's end, or the peer's end of sending), NGX_AGAIN when more is
 * still to come (ngx_http_keygate_line_handler waits for it, as long as
 * the server's client_header_timeout, at most 5 s: a line sent in
 * several TCP segments, as any real network sends 9 KB), NGX_DECLINED when
 * there is nothing to recover.
 */
static ngx_int_t ngx_http_keygate_recover_line(ngx_http_request_t *r,
                                               ngx_http_keygate_ctx_t *ctx) {
  ngx_connection_t *c = r->connection;
  if (ctx->line == NULL) {
    if (r->request_start == NULL || r->header_in == NULL ||
        r->request_start < r->header_in->start ||
        r->request_start >= r->header_in->last) {
      return NGX_DECLINED;
    }
    /* A line nginx parsed ends before what it read; one it gave up on is
     * unset, or (414) the whole buffer. */
    if (r->request_line.data != NULL &&
        r->request_line.data + r->request_line.len < r->header_in->last) {
      return NGX_DECLINED;
    }
    size_t have = (size_t)(r->header_in->last - r->request_start);
    ctx->line = ngx_pnalloc(r->pool, have + NGX_HTTP_KEYGATE_LINE_MORE);
    if (ctx->line == NULL) {
      return NGX_DECLINED;
    }
    ngx_memcpy(ctx->line, r->request_start, have);
    ctx->line_end = ctx->line + have;
    ctx->line_last = ctx->line_end + NGX_HTTP_KEYGATE_LINE_MORE;
  }
  /* recv(2) itself: c->recv answers NGX_AGAIN until epoll reports more;
   * on TLS the bytes are not the line, and an HTTP/2 stream's socket holds
   * frames: nothing is read there. */
  int stream = 0;
#if (NGX_HTTP_V2)
  stream = r->stream != NULL;
#endif
  ngx_int_t rc = NGX_OK;
  while (!stream && c->ssl == NULL &&
         ngx_strlchr(ctx->line, ctx->line_end, LF) == NULL &&
         ctx->line_end < ctx->line_last) {
    ssize_t n =
        recv(c->fd, ctx->line_end, (size_t)(ctx->line_last - ctx->line_end), 0);
    if (n < 0 &&
        (ngx_socket_errno == NGX_EAGAIN || ngx_socket_errno == NGX_EINTR)) {
      rc = NGX_AGAIN; /* more may come */
      break;
    }
    if (n <= 0) {
      break; /* 0: the peer sent all it will; an error: nothing more */
    }
    ctx->line_end += n;
  }
  if (rc == NGX_AGAIN) {
    return NGX_AGAIN;
  }
  u_char *line = ctx->line;
  u_char *p = line;
  while (p < ctx->line_end && *p != CR && *p != LF) {
    p++;
  }
  r->request_line.data = line;
  r->request_line.len = (size_t)(p - line);
  u_char *sp = ngx_strlchr(line, p, ' ');
  if (sp != NULL) {
    r->method_name.data = line;
    r->method_name.len = (size_t)(sp - line);
  }
  return NGX_OK;
}

/* A field's value as the client sent it: the Host and Referer the module
 * masked, as they came. */
static const ngx_str_t *
ngx_http_keygate_sent_value(ngx_http_request_t *r,
                            const ngx_http_keygate_ctx_t *ctx,
                            const ngx_table_elt_t *h) {
  if (ctx != NULL && h == r->headers_in.host && ctx->host_sent.data != NULL) {
    return &ctx->host_sent;
  }
  if (ctx != NULL && h == r->headers_in.referer &&
      ctx->referer_sent.data != NULL) {
    return &ctx->referer_sent;
  }
  return &h->value;
}

/* The head rebuilt from what nginx stored, for one it did not keep in one
 * buffer (over client_header_buffer_size, the lines read since moved to
 * large_client_header_buffers, review 88): the request line and each
 * stored field line, "name: value" as nginx delimited it (the screen reads
 * the same value from it), CR LF each; then, where nginx refused a line it
 * did not store, that line and what came after it as they came (review 89:
 * without it the head read as ending before it, missing a Host that came
 * later), else the empty line. NULL when there is no request line. */
static u_char *ngx_http_keygate_rebuilt_head(ngx_http_request_t *r,
                                             size_t *len) {
  if (r->request_line.data == NULL || r->request_line.len == 0) {
    return NULL;
  }
  const ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  size_t n = r->request_line.len + 2;
  const u_char *last_key = NULL;
  for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL;
       part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      n += h[i].key.len + ngx_http_keygate_sent_value(r, ctx, &h[i])->len + 4;
      last_key = h[i].key.data;
    }
  }
  /* the line nginx was reading when it refused: not stored, not the empty
   * line that ended the head */
  const u_char *tail = r->header_name_start;
  size_t tail_len = 0;
  if (tail != NULL && r->header_in != NULL && tail >= r->header_in->start &&
      tail < r->header_in->last && tail != last_key && tail != r->header_end) {
    tail_len = (size_t)(r->header_in->last - tail);
  }
  n += tail_len > 0 ? tail_len : 2;
  u_char *head = ngx_pnalloc(r->pool, n);
  if (head == NULL) {
    return NULL;
  }
  u_char *p = ngx_cpymem(head, r->request_line.data, r->request_line.len);
  *p++ = CR;
  *p++ = LF;
  for (ngx_list_part_t *part = &r->headers_in.headers.part; part != NULL;
       part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      const ngx_str_t *v = ngx_http_keygate_sent_value(r, ctx, &h[i]);
      p = ngx_cpymem(p, h[i].key.data, h[i].key.len);
      *p++ = ':';
      *p++ = ' ';
      p = ngx_cpymem(p, v->data, v->len);
      *p++ = CR;
      *p++ = LF;
    }
  }
  if (tail_len > 0) {
    p = ngx_cpymem(p, tail, tail_len);
  } else {
    *p++ = CR;
    *p++ = LF;
  }
  *len = (size_t)(p - head);
  return head;
}

/* The core's reading of a head: a parse error, its kg_head_screen
 * refusal, or KG_OK. */
static kg_status ngx_http_keygate_read_head(ngx_http_request_t *r,
                                            const u_char *buf, size_t len) {
  kg_field *fields = ngx_palloc(r->pool, KG_HEAD_MAX_FIELDS * sizeof(kg_field));
  if (fields == NULL) {
    return KG_OK;
  }
  kg_head head;
  kg_head_init(&head, fields, KG_HEAD_MAX_FIELDS, KG_HEAD_CTL_IN_VALUES);
  size_t consumed = 0;
  kg_status s = kg_head_parse((const char *)buf, len, &head, &consumed);
  if (s == KG_OK) {
    return kg_head_screen(&head);
  }
  return s == KG_INCOMPLETE ? KG_OK : s;
}

/* What the core finds wrong with the head nginx refused: a parse error or
 * a kg_head_screen refusal; KG_OK when it cannot tell. *known is 0 when
 * the head could not be read at all. */
static kg_status ngx_http_keygate_classify(ngx_http_request_t *r, int *known) {
  *known = 1;
  if (r->http_version >= NGX_HTTP_VERSION_20) {
    /* an HTTP/2 stream's head is no text to read (review 89: rebuilt with
     * its "HTTP/2.0", the core's 505 replaced nginx's 400) */
    return KG_OK;
  }
  if (r->request_start == NULL || r->header_in == NULL ||
      r->request_start < r->header_in->start ||
      r->request_start >= r->header_in->last) {
    size_t len = 0;
    u_char *rebuilt = ngx_http_keygate_rebuilt_head(r, &len);
    if (rebuilt == NULL) {
      *known = 0;
      return KG_OK;
    }
    return ngx_http_keygate_read_head(r, rebuilt, len);
  }
  u_char *start = r->request_start;
  size_t len = (size_t)(r->header_in->last - start);
  u_char *copy = ngx_pnalloc(r->pool, len + 1); /* + the LF that may end it */
  if (copy == NULL) {
    *known = 0;
    return KG_OK;
  }
  ngx_memcpy(copy, start, len);
  /* nginx ended each stored name and value with a NUL in its buffer: over
   * the colon, and over the value's end (its first trailing space, its line
   * end's first CR, or the LF of a line ended by an LF alone); a line with
   * no colon has one NUL, its line end's. Put them back in the copy: the
   * colon; at the value's end (the first NUL after the colon: a value holds
   * none), the LF where the next line begins right after it, which is where
   * what follows is not spaces and CRs up to an LF, or where nginx found the
   * head's empty line (r->header_end, review 88); else a space, which reads
   * as the CR or space it was (review 87: a space over an LF ran two lines
   * into one). The value is found by its NUL, not by the field's value,
   * which the module may have pointed at a mask (review 89: a second
   * Referer holding a key). A line refused as it was stored (r->header_end
   * on its value's end) ends the head: nginx read nothing after it. */
  int ended = 0;
  for (ngx_list_part_t *part = &r->headers_in.headers.part;
       part != NULL && !ended; part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts && !ended; i++) {
      const u_char *k = h[i].key.data + h[i].key.len;
      if (k < start || k >= start + len || copy[k - start] != '\0') {
        continue;
      }
      size_t at = (size_t)(k - start);
      if (h[i].value.len != 0 || h[i].value.data != k) {
        copy[at++] = ':';
        while (at < len && copy[at] != '\0' && copy[at] != LF) {
          at++;
        }
        if (at >= len || copy[at] != '\0') {
          continue;
        }
      }
      const u_char *v = start + at;
      if (r->header_end == v) {
        copy[at] = LF;
        copy[at + 1] = LF;
        len = at + 2;
        ended = 1;
        continue;
      }
      size_t j = at + 1;
      while (j < len && (copy[j] == ' ' || copy[j] == CR)) {
        j++;
      }
      copy[at] =
          (j < len && copy[j] != LF) || r->header_end == v + 1 ? LF : ' ';
    }
  }
  return ngx_http_keygate_read_head(r, copy, len);
}

/* Send a refusal's answer (the code and message of kg_error_body, their
 * one home), with nginx's status. */
static ngx_int_t ngx_http_keygate_send_refusal(ngx_http_request_t *r,
                                               ngx_http_keygate_ctx_t *ctx,
                                               ngx_uint_t status,
                                               kg_status refusal) {
  if (status == NGX_HTTP_NOT_ALLOWED &&
      NGX_HTTP_KEYGATE_HEADER(r, "Allow", "GET, HEAD", 9) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return ngx_http_keygate_send_error(r, ctx, status, refusal, NULL, NULL);
}

static ngx_int_t ngx_http_keygate_bad_request_answer(
    ngx_http_request_t *r, ngx_http_keygate_ctx_t *ctx,
    const ngx_http_keygate_loc_conf_t *lcf, ngx_uint_t status);
static void ngx_http_keygate_sent_uri(ngx_http_request_t *r,
                                      ngx_http_keygate_ctx_t *ctx,
                                      const kg_key_policy *p);

/* The configuration a refused request was under: its server{}'s (nginx
 * refused it before choosing a location). */
static const ngx_http_keygate_loc_conf_t *
ngx_http_keygate_server_lcf(ngx_http_request_t *r) {
  ngx_http_core_srv_conf_t *cscf =
      ngx_http_get_module_srv_conf(r, ngx_http_core_module);
  return cscf->ctx->loc_conf[ngx_http_keygate_module.ctx_index];
}

/* The read event while the rest of a line too long is awaited: read it,
 * then answer (or answer with what came, once the wait is over). */
static void ngx_http_keygate_line_handler(ngx_event_t *rev) {
  ngx_connection_t *c = rev->data;
  ngx_http_request_t *r = c->data;
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  if (ctx == NULL || ctx->line == NULL) {
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    ngx_http_run_posted_requests(c);
    return;
  }
  if (rev->timedout) {
    rev->timedout = 0;
    ctx->line_last = ctx->line_end; /* no more: decide on what came */
  }
  if (ngx_http_keygate_recover_line(r, ctx) == NGX_AGAIN) {
    if (ngx_handle_read_event(rev, 0) == NGX_OK) {
      return;
    }
    ctx->line_last = ctx->line_end;
    (void)ngx_http_keygate_recover_line(r, ctx);
  }
  if (rev->timer_set) {
    ngx_del_timer(rev);
  }
  rev->handler = ngx_http_empty_handler;
  ngx_http_finalize_request(
      r, ngx_http_keygate_bad_request_answer(
             r, ctx, ngx_http_keygate_server_lcf(r), ctx->bad_status));
  ngx_http_run_posted_requests(c);
}

static ngx_int_t ngx_http_keygate_bad_request_handler(ngx_http_request_t *r) {
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_ctx(r);
  if (ctx == NULL || ngx_http_keygate_request_id(ctx) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  /* nginx refused the request before choosing a location: the
   * configuration it was under is its server{}'s, not this location's. */
  const ngx_http_keygate_loc_conf_t *lcf = ngx_http_keygate_server_lcf(r);
  /* The status nginx chose (error_page keeps it in err_status). */
  ngx_uint_t status = r->err_status >= NGX_HTTP_BAD_REQUEST
                          ? r->err_status
                          : NGX_HTTP_BAD_REQUEST;
  if (status == NGX_HTTP_BAD_GATEWAY || status == NGX_HTTP_GATEWAY_TIME_OUT) {
    /* A gateway's upstream failed (refused, reset, timed out) after a valid
     * decision passed the request on: the answer in the JSON shape with
     * the id the upstream was sent too. An upstream's own 502 passes as it
     * is (error_page needs proxy_intercept_errors for those). */
    ngx_http_keygate_sent_uri(r, ctx, &lcf->policy);
    return ngx_http_keygate_send_error(
        r, ctx, status,
        status == NGX_HTTP_BAD_GATEWAY ? KG_BAD_GATEWAY : KG_GATEWAY_TIMEOUT,
        NULL, NULL);
  }
  /* Never keep a connection whose head nginx could not read. */
  r->keepalive = 0;
  if (r->http_version < NGX_HTTP_VERSION_10) {
    /* An HTTP/0.9 line nginx refused itself (GET /../x): its answer has no
     * status line and no headers; answer as HTTP/1.0 in the JSON shape, as
     * the access phase does for one it reads (review 86). */
    r->http_version = NGX_HTTP_VERSION_10;
  }
  ctx->bad_status = status;
  if (ngx_http_keygate_recover_line(r, ctx) == NGX_AGAIN) {
    /* The rest of the line is on its way: wait for it on the connection's
     * read event (nginx left it to ngx_http_process_request_line), then
     * answer from ngx_http_keygate_line_handler. */
    ngx_connection_t *c = r->connection;
    ngx_http_core_srv_conf_t *hcf =
        ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    ngx_msec_t wait = hcf->client_header_timeout;
    c->read->handler = ngx_http_keygate_line_handler;
    ngx_add_timer(c->read, wait < NGX_HTTP_KEYGATE_LINE_WAIT_MS
                               ? wait
                               : NGX_HTTP_KEYGATE_LINE_WAIT_MS);
    if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
      r->main->count++;
      return NGX_DONE;
    }
    ngx_del_timer(c->read);
    c->read->handler = ngx_http_empty_handler;
  }
  return ngx_http_keygate_bad_request_answer(r, ctx, lcf, status);
}

static ngx_str_t ngx_http_keygate_no_method = ngx_string("-");

/*
 * error_page also made the method GET (all but HEAD): an access log of
 * "$request_method $uri" said GET for a TRACE refused 405, a POST whose
 * upstream failed, ... (review 78). Give $request_method back the request
 * line's first word when it is a method as nginx takes one (1 to 32 of
 * A-Z, '-', '_'), "<redacted>" when it holds a key, else "-" (a line
 * nginx could not read: its first word may be anything).
 */
static void ngx_http_keygate_sent_method(ngx_http_request_t *r,
                                         const kg_key_policy *p) {
  if (r->method == NGX_HTTP_HEAD && r->method_name.len == 4) {
    return; /* error_page keeps HEAD */
  }
  if (r->request_line.data == NULL || r->request_line.len == 0) {
    /* no line to take it from (an HTTP/2 stream nginx refused before it
     * made one): nginx's own method_name stands */
    return;
  }
  r->method_name = ngx_http_keygate_no_method;
  u_char *line = r->request_line.data;
  size_t n = 0, token = 1;
  while (n < r->request_line.len && line[n] != ' ') {
    u_char ch = line[n];
    token &= (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_';
    n++;
  }
  if (kg_target_has_key(p, (kg_span){(const char *)line, n})) {
    r->method_name.data = ngx_http_keygate_mark;
    r->method_name.len = sizeof(ngx_http_keygate_mark) - 1;
    return;
  }
  if (n == 0 || n > 32 || !token) {
    return;
  }
  r->method_name.data = line;
  r->method_name.len = n;
}

/*
 * error_page moved the request to /_keygate/bad_request: $uri says that
 * path, and an access log of "$request_method $uri" would name it for
 * every request nginx refused (or whose upstream failed). Give $uri back
 * the path the client sent, as sent (the request line's, not decoded: the
 * decoded one is gone), "<redacted>" when that path holds a key (also
 * under more encodings than SPEC §1.1's scan), or empty when nginx read no
 * request-target. Nothing routes by $uri once the answer is chosen.
 */
static void ngx_http_keygate_sent_uri(ngx_http_request_t *r,
                                      ngx_http_keygate_ctx_t *ctx,
                                      const kg_key_policy *p) {
  /* The target first: ngx_http_keygate_target reads it after the method
   * nginx took, and caches it (review 79: with the method rewritten
   * first, a one-word line of up to 10 bytes had no target, and a key in
   * it was no longer api_key_in_query). */
  kg_span path = ngx_http_keygate_path_of(ngx_http_keygate_target(r, ctx));
  ngx_http_keygate_sent_method(r, p);
  if (path.len == 0) {
    r->uri.len = 0;
    return;
  }
  if (kg_target_has_key(p, path) ||
      ngx_http_keygate_deep_key(r->pool, p, (const u_char *)path.ptr,
                                path.len)) {
    r->uri.data = ngx_http_keygate_mark;
    r->uri.len = sizeof(ngx_http_keygate_mark) - 1;
    return;
  }
  r->uri.data = (u_char *)path.ptr;
  r->uri.len = path.len;
}

/* The bad-request answer, once the request line is what can be had. */
static ngx_int_t ngx_http_keygate_bad_request_answer(
    ngx_http_request_t *r, ngx_http_keygate_ctx_t *ctx,
    const ngx_http_keygate_loc_conf_t *lcf, ngx_uint_t status) {
  ngx_http_keygate_guard_log(r);
  ngx_http_keygate_sent_uri(r, ctx, &lcf->policy);
  if (ngx_http_keygate_mask_url_fields(r, &lcf->policy) != NGX_OK) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }

  kg_field fields[NGX_HTTP_KEYGATE_MAX_FIELDS];
  size_t n = ngx_http_keygate_fields(r, fields, NGX_HTTP_KEYGATE_MAX_FIELDS);
  kg_span query = ngx_http_keygate_checked_target(r, ctx, lcf);
  kg_credential cred;
  kg_credential_extract(&lcf->policy, fields, n, query, &cred);
  if (cred.outcome == KG_API_KEY_IN_QUERY ||
      cred.outcome == KG_AMBIGUOUS_API_KEY) {
    ctx->decision = cred.outcome;
    return ngx_http_keygate_send_decision(r, ctx, cred.outcome, NULL);
  }
  if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
    /* limit_conn: too many requests in progress from this address. */
    return ngx_http_keygate_send_error(r, ctx, status, KG_TOO_MANY_REQUESTS,
                                       NULL, NULL);
  }
  /* A request keygate decided had a head nginx read whole; one whose head
   * the core finds nothing wrong with too: with a body announced, what
   * nginx refused is the body. (A decided request's field list may be
   * rebuilt without its key lines: it is not classified again.) */
  int body = r->headers_in.chunked || r->headers_in.content_length_n > 0;
  int known = 1;
  kg_status refusal =
      status == NGX_HTTP_BAD_REQUEST && body && ctx->decision != KG_OK
          ? KG_E_BAD_BODY
          : ngx_http_keygate_classify(r, &known);
  if (refusal == KG_OK && known && status == NGX_HTTP_BAD_REQUEST && body) {
    refusal = KG_E_BAD_BODY;
  }
  /* HTTP/2's preface on a plain port (PRI * HTTP/2.0): nginx refuses the
   * '*' with 400 before it looks at the version; the core names the
   * version, as `keygate check` does, and as nginx does for GET / HTTP/2.0
   * (review 70-5) */
  if (status == NGX_HTTP_BAD_REQUEST && refusal == KG_E_VERSION_NOT_SUPPORTED) {
    status = NGX_HTTP_VERSION_NOT_SUPPORTED;
  }
  if (refusal == KG_OK || kg_refusal_http_status(refusal) !=
                              (int)ngx_http_keygate_public_status(status)) {
    refusal = ngx_http_keygate_refusal_of(status);
  }
  return ngx_http_keygate_send_refusal(
      r, ctx, ngx_http_keygate_public_status(status), refusal);
}

static char *ngx_http_keygate_bad_request(ngx_conf_t *cf, ngx_command_t *cmd,
                                          void *conf) {
  ngx_http_core_loc_conf_t *clcf =
      ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
  ngx_http_keygate_loc_conf_t *lcf = conf;
  (void)cmd;
  clcf->handler = ngx_http_keygate_bad_request_handler;
  /* The redirected request must not be checked again: its answer is the
   * 400 itself. */
  if (lcf->enable == NGX_CONF_UNSET) {
    lcf->enable = 0;
  }
  return NGX_CONF_OK;
}

/* ---- readiness (keygate_status) ----------------------------------------- */

/*
 * keygate_status — the content handler of a location that tells whether
 * every worker of the current configuration serves every store
 * (docs/server.md, "Readiness"): 200 {"ready":true,"workers":N,"serving":N},
 * else 503 {"ready":false,...}, from the slots the workers keep in each
 * store's shared zone. It holds no key, no path and no count of keys. Only
 * a client on this host (a loopback address, the address it connected to,
 * or a Unix socket) is answered; any other gets 404, which the location hands
 * to error_page (gateway.conf: the path then behaves as every unknown path, key
 * check first).
 */
static int ngx_http_keygate_is_local(ngx_connection_t *c) {
  /* A client on this host that reached one of its other addresses comes
   * from that address (Linux picks the destination as the source). */
  if (ngx_connection_local_sockaddr(c, NULL, 0) == NGX_OK &&
      ngx_cmp_sockaddr(c->sockaddr, c->socklen, c->local_sockaddr,
                       c->local_socklen, 0) == NGX_OK) {
    return 1;
  }
  switch (c->sockaddr->sa_family) {
  case AF_INET: {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)c->sockaddr;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
  }
#if (NGX_HAVE_INET6)
  case AF_INET6: {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)c->sockaddr;
    return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
           (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
            sin6->sin6_addr.s6_addr[12] == 127);
  }
#endif
#if (NGX_HAVE_UNIX_DOMAIN)
  case AF_UNIX:
    return 1;
#endif
  default:
    return 0;
  }
}

static ngx_int_t ngx_http_keygate_status_handler(ngx_http_request_t *r) {
  if (!ngx_http_keygate_is_local(r->connection)) {
    return NGX_HTTP_NOT_FOUND;
  }
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_ctx(r);
  if (ctx == NULL || ngx_http_keygate_request_id(ctx) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  /* A key in the URL is refused here as on the API (SPEC §1.1: it is in
   * someone's logs already; review 70 saw 200), the logs made safe; the
   * location checks no key otherwise. */
  const ngx_http_keygate_loc_conf_t *lcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
  ngx_http_keygate_guard_log(r);
  kg_field fields[NGX_HTTP_KEYGATE_MAX_FIELDS];
  const size_t n =
      ngx_http_keygate_fields(r, fields, NGX_HTTP_KEYGATE_MAX_FIELDS);
  kg_credential cred;
  kg_credential_extract(&lcf->policy, fields, n,
                        ngx_http_keygate_checked_target(r, ctx, lcf), &cred);
  if (cred.outcome == KG_API_KEY_IN_QUERY) {
    ctx->decision = cred.outcome;
    return ngx_http_keygate_send_decision(r, ctx, cred.outcome, NULL);
  }
  if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
    if (NGX_HTTP_KEYGATE_HEADER(r, "Allow", "GET, HEAD", 9) == NULL) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_keygate_send_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                       KG_E_METHOD_NOT_ALLOWED, NULL,
                                       "Use GET /_keygate/status.");
  }
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_get_module_main_conf(r, ngx_http_keygate_module);
  ngx_core_conf_t *ccf =
      (ngx_core_conf_t *)ngx_get_conf(ngx_cycle->conf_ctx, ngx_core_module);
  ngx_uint_t workers =
      ngx_process == NGX_PROCESS_SINGLE ? 1 : (ngx_uint_t)ccf->worker_processes;
  ngx_uint_t serving = workers;
  ngx_http_keygate_db_t **dbs = mcf->dbs.elts;
  for (ngx_uint_t i = 0; i < mcf->dbs.nelts; i++) {
    ngx_uint_t n = ngx_http_keygate_serving(dbs[i], workers);
    serving = n < serving ? n : serving;
  }
  const int ready = serving == workers;
  u_char *body = ngx_pnalloc(r->pool, 96);
  if (body == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  u_char *last =
      ngx_snprintf(body, 96, "{\"ready\":%s,\"workers\":%ui,\"serving\":%ui}",
                   ready ? "true" : "false", workers, serving);
  if (!ready && NGX_HTTP_KEYGATE_HEADER(r, "Retry-After", "1", 1) == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return ngx_http_keygate_send_json(
      r, ready ? NGX_HTTP_OK : NGX_HTTP_SERVICE_UNAVAILABLE, ctx->request_id,
      NULL, body, (size_t)(last - body));
}

static char *ngx_http_keygate_status(ngx_conf_t *cf, ngx_command_t *cmd,
                                     void *conf) {
  ngx_http_core_loc_conf_t *clcf =
      ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_conf_get_module_main_conf(cf, ngx_http_keygate_module);
  (void)cmd;
  (void)conf;
  clcf->handler = ngx_http_keygate_status_handler;
  mcf->status = 1;
  return NGX_CONF_OK;
}

/* ---- variables -------------------------------------------------------- */

enum {
  NGX_HTTP_KEYGATE_VAR_DECISION,
  NGX_HTTP_KEYGATE_VAR_KEY_ID,
  NGX_HTTP_KEYGATE_VAR_ACCOUNT,
  NGX_HTTP_KEYGATE_VAR_REQUEST_ID
};

static ngx_int_t ngx_http_keygate_variable(ngx_http_request_t *r,
                                           ngx_http_variable_value_t *v,
                                           uintptr_t data) {
  ngx_http_keygate_ctx_t *ctx;
  const char *s = NULL;
  size_t len = 0;

  if (data == NGX_HTTP_KEYGATE_VAR_REQUEST_ID) {
    ctx = ngx_http_keygate_ctx(r);
    if (ctx == NULL || ngx_http_keygate_request_id(ctx) == NULL) {
      return NGX_ERROR;
    }
  } else {
    ctx = ngx_http_keygate_find_ctx(r);
  }
  if (ctx != NULL) {
    switch (data) {
    case NGX_HTTP_KEYGATE_VAR_DECISION:
      if (ctx->decision != KG_OK) {
        s = kg_status_str(ctx->decision);
        len = ngx_strlen(s);
      }
      break;
    case NGX_HTTP_KEYGATE_VAR_KEY_ID:
      if (ctx->found) {
        len = kg_key_id_format(ctx->key_id, ctx->key_id_text);
        s = ctx->key_id_text;
      }
      break;
    case NGX_HTTP_KEYGATE_VAR_ACCOUNT:
      s = (const char *)ctx->account.data;
      len = ctx->account.len;
      break;
    default:
      s = ctx->request_id;
      len = KG_REQUEST_ID_LEN;
      break;
    }
  }
  if (len == 0) {
    v->not_found = 1;
    return NGX_OK;
  }
  v->data = (u_char *)s;
  v->len = (unsigned)len;
  v->valid = 1;
  v->no_cacheable = 0;
  v->not_found = 0;
  return NGX_OK;
}

static ngx_int_t ngx_http_keygate_add_variables(ngx_conf_t *cf) {
  static ngx_str_t names[] = {
      ngx_string("keygate_decision"), ngx_string("keygate_key_id"),
      ngx_string("keygate_account"), ngx_string("keygate_request_id")};
  for (ngx_uint_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    ngx_http_variable_t *var =
        ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
      return NGX_ERROR;
    }
    var->get_handler = ngx_http_keygate_variable;
    var->data = i;
  }
  return NGX_OK;
}

/* ---- postconfiguration -------------------------------------------------- */

/*
 * At info and debug levels nginx writes client header lines to the error
 * log before any module runs ("client sent duplicate header line:
 * \"Authorization: Bearer ...\""): no module can redact them. Where keygate
 * checks keys, an error_log at info or debug (the main one, or a server's,
 * which is the log of a request before its location is chosen) is refused
 * unless keygate_verbose_error_log on says the operator accepts keys in it.
 */
static ngx_int_t ngx_http_keygate_check_log(ngx_conf_t *cf, ngx_log_t *log,
                                            const char *where) {
  for (; log != NULL; log = log->next) {
    if (log->log_level >= NGX_LOG_INFO) {
      ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                         "keygate: the %s error_log is at info or debug "
                         "level, where nginx writes client header lines, "
                         "keys included, before any module runs: use notice "
                         "(or set keygate_verbose_error_log on to accept keys "
                         "in that log)",
                         where);
      return NGX_ERROR;
    }
  }
  return NGX_OK;
}

static ngx_int_t ngx_http_keygate_check_logs(ngx_conf_t *cf,
                                             ngx_http_core_main_conf_t *cmcf) {
  if (ngx_http_keygate_check_log(cf, &cf->cycle->new_log, "main") != NGX_OK) {
    return NGX_ERROR;
  }
  ngx_http_core_srv_conf_t **servers = cmcf->servers.elts;
  for (ngx_uint_t i = 0; i < cmcf->servers.nelts; i++) {
    ngx_http_core_loc_conf_t *clcf =
        servers[i]->ctx->loc_conf[ngx_http_core_module.ctx_index];
    if (ngx_http_keygate_check_log(cf, clcf->error_log, "server's") != NGX_OK) {
      return NGX_ERROR;
    }
  }
  return NGX_OK;
}

/*
 * keygate_request_id_header on: an answer the upstream sent (any status:
 * add_header without "always" skips 4xx and 5xx, and with it doubles the
 * header on keygate's own answers, which carry theirs) to a request
 * keygate decided gets X-Request-Id: $keygate_request_id, the id the
 * upstream was sent, unless the upstream's answer has an X-Request-Id of
 * its own (kept: it may be quoted in its body; an empty one is given the
 * id).
 */
static ngx_http_output_header_filter_pt ngx_http_keygate_next_header_filter;

static ngx_int_t ngx_http_keygate_header_filter(ngx_http_request_t *r) {
  if (r != r->main || r->upstream == NULL) {
    return ngx_http_keygate_next_header_filter(r);
  }
  const ngx_http_keygate_loc_conf_t *lcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_module);
  ngx_http_keygate_ctx_t *ctx = ngx_http_keygate_find_ctx(r);
  if (lcf == NULL || !lcf->request_id_header || ctx == NULL ||
      ctx->decision == KG_OK) {
    return ngx_http_keygate_next_header_filter(r);
  }
  for (ngx_list_part_t *part = &r->headers_out.headers.part; part != NULL;
       part = part->next) {
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0; i < part->nelts; i++) {
      if (h[i].hash != 0 && h[i].key.len == sizeof("X-Request-Id") - 1 &&
          ngx_strncasecmp(h[i].key.data, (u_char *)"X-Request-Id",
                          h[i].key.len) == 0) {
        if (h[i].value.len == 0) { /* an empty one names no request */
          const char *rid = ngx_http_keygate_request_id(ctx);
          if (rid == NULL) {
            return NGX_ERROR;
          }
          h[i].value.data = (u_char *)rid;
          h[i].value.len = KG_REQUEST_ID_LEN;
        }
        return ngx_http_keygate_next_header_filter(r);
      }
    }
  }
  const char *rid = ngx_http_keygate_request_id(ctx);
  if (rid == NULL || NGX_HTTP_KEYGATE_HEADER(r, "X-Request-Id", rid,
                                             KG_REQUEST_ID_LEN) == NULL) {
    return NGX_ERROR;
  }
  return ngx_http_keygate_next_header_filter(r);
}

static ngx_int_t ngx_http_keygate_init(ngx_conf_t *cf) {
  ngx_http_core_main_conf_t *cmcf =
      ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
  ngx_http_keygate_main_conf_t *mcf =
      ngx_http_conf_get_module_main_conf(cf, ngx_http_keygate_module);

  ngx_http_handler_pt *h =
      ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
  if (h == NULL) {
    return NGX_ERROR;
  }
  *h = ngx_http_keygate_access_handler;
  h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
  if (h == NULL) {
    return NGX_ERROR;
  }
  *h = ngx_http_keygate_post_read_handler;

  /* First in the log phase: ngx_http_log_request calls its handlers in
   * the order of this array, and the access log's (a static module) is
   * already in it. */
  h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
  if (h == NULL) {
    return NGX_ERROR;
  }
  ngx_http_handler_pt *log_handlers =
      cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
  ngx_uint_t nlog = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;
  ngx_memmove(&log_handlers[1], &log_handlers[0],
              (nlog - 1) * sizeof(ngx_http_handler_pt));
  log_handlers[0] = ngx_http_keygate_log_phase_handler;

  ngx_http_keygate_next_header_filter = ngx_http_top_header_filter;
  ngx_http_top_header_filter = ngx_http_keygate_header_filter;

  if (mcf->status && mcf->dbs.nelts == 0) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "keygate_status needs a keygate_db: it says whether "
                       "every worker serves the key stores");
    return NGX_ERROR;
  }

  /* keygate checks keys somewhere (a keygate_db is configured) */
  if (mcf->dbs.nelts > 0 && mcf->verbose_error_log != 1 &&
      ngx_http_keygate_check_logs(cf, cmcf) != NGX_OK) {
    return NGX_ERROR;
  }

  /* With keygate_pepper_file, presented keys are digested HMAC-SHA-256
   * under the pepper, as the peppered store's keys were. */
  if (kg_digester_new(mcf->pepper != NULL ? mcf->pepper->bytes : NULL,
                      mcf->pepper != NULL ? mcf->pepper->len : 0,
                      &mcf->digester) != KG_OK) {
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "keygate: cannot make a %s digester",
                       mcf->pepper != NULL ? "HMAC-SHA-256" : "SHA-256");
    return NGX_ERROR;
  }
  ngx_pool_cleanup_t *cln = ngx_pool_cleanup_add(cf->pool, 0);
  if (cln == NULL) {
    return NGX_ERROR;
  }
  cln->handler = ngx_http_keygate_digester_cleanup;
  cln->data = mcf;
  return NGX_OK;
}
