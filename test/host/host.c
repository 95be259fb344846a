//go:build ignore
// (keeps the go tool from treating this file as part of non-cgo package host)

/*
 * kubeship-host: a tiny stand-in for Fluent Bit that loads a Go output plugin
 * (.so built with fluent-bit-go) through the same ABI and in the same order as
 * Fluent Bit's Go proxy, so tests catch plugins that would break there.
 *
 * ABIs (-a): 5.1 (default; struct flb_plugin_proxy_def ends with config_map,
 * 48 bytes), 4.2 (4.2.3-4.2.x: def ends with event_type, 40 bytes). Built with
 * -DFLB_V1_9 it is a 1.9-era host instead: a 32-byte def without event_type,
 * a struct flb_api with only output_get_property, and no exported
 * flb_output_log_check (Fluent Bit 2.0 added both). The def and the API table
 * end at a page boundary followed by an inaccessible page, so a plugin that
 * writes past the def or reads past the API table of the host's version
 * crashes here, as it could in that Fluent Bit. Like Fluent Bit, the host is
 * linked with -rdynamic: plugins can dlsym(RTLD_DEFAULT) its flb_* functions.
 *
 * Mirrors (Fluent Bit v4.2.8 and v5.1.1; v1.9.10 with -DFLB_V1_9):
 *   src/flb_plugin_proxy.c  flb_plugin_proxy_create/_register (dlopen, register),
 *                           flb_proxy_output_cb_init/_pre_run/_exit/_destroy,
 *                           proxy_cb_flush
 *   src/proxy/go/go.c, go.h proxy_go_output_register/_init/_flush/_destroy
 *   src/flb_api.c, include/fluent-bit/flb_api.h            the API table
 *   include/fluent-bit/flb_plugin_proxy.h                  def and context
 *   src/flb_output.c        flb_output_new (instance names), flb_output_set_property
 *                           (keys the core keeps), flb_output_get_property,
 *                           flb_output_log_check, flb_output_exit (exit order),
 *                           flb_output_name (alias or name), flb_output_get_cmt_instance
 *
 * Metrics: like Fluent Bit, the host gives each instance a cmetrics context
 * (output_get_cmt_instance; a new one at each init, destroyed after the
 * instance's exit) and exports flb_output_name and the cmt_* functions a
 * plugin may call, as fakes that keep series in memory (src/flb_output.c
 * flb_output_init_all and flb_output_get_cmt_instance, lib/cmetrics). The
 * "metrics" command prints every live context as Fluent Bit's
 * /api/v2/metrics/prometheus would, and counts calls that overlapped, came
 * after a context was destroyed, or did not match the metric. -m off leaves
 * the API table's output_get_cmt_instance as a Fluent Bit built without
 * metrics does (uninitialised: a call crashes); -m null makes it return NULL.
 *
 * Usage: kubeship-host [-a 5.1|4.2] [-m off|null] [-l LEVEL] PLUGIN.so [-i [-k key=value]...]...
 * Then one command per line on stdin (flush, flushn, reload, metrics, exit);
 * answers on stdout ("metrics" answers one line, its lines separated by tabs). reload exits every instance and initialises them anew, as Fluent
 * Bit's hot reload does; "flush old.N ..." then flushes with the context
 * instance N had before.
 * The plugin's own writes to stdout are redirected to stderr so they cannot
 * corrupt the protocol. With KUBESHIP_HOST_SYNC=1 in the environment, a marker
 * (SYNC_MARK) is written to stderr before each answer, so a driver can tell
 * when it has read all stderr the plugin wrote before that answer.
 */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* include/fluent-bit/flb_plugin_proxy.h: 1.9-4.2.2 end at description (32
 * bytes), 4.2.3+ add event_type (40), 5.x add config_map (48). */
struct flb_plugin_proxy_def {
    int type, proxy, flags;
    char *name, *description;
    int event_type;
    void *config_map;  /* struct flb_config_map *; Fluent Bit validates keys with it when set */
};
#define DEF_SIZE_1_9 32
#define DEF_SIZE_4_2 40
struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy; /* struct flb_plugin_proxy * in Fluent Bit; plugins never read it */
};
/* include/fluent-bit/flb_api.h */
struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};
/* src/proxy/go/go.h */
struct flbgo_output_plugin {
    char *name;
    void *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
    int (*cb_init)(struct flbgo_output_plugin *);
    int (*cb_flush)(const void *, size_t, const char *);
    int (*cb_flush_ctx)(void *, const void *, size_t, char *);
    int (*cb_exit)(void);
    int (*cb_exit_ctx)(void *);
};
_Static_assert(sizeof(struct flb_plugin_proxy_def) == 48, "def ABI");
_Static_assert(sizeof(struct flb_plugin_proxy_context) == 16, "context ABI");
_Static_assert(sizeof(struct flbgo_output_plugin) == 72, "plugin ABI");

struct prop { char *key, *val; };          /* val NULL when set empty */
struct fake_cmt;
struct instance {                          /* stands in for flb_output_instance */
    char name[64];
    char *alias;                           /* the alias key, or NULL */
    struct fake_cmt *cmt;                  /* its cmetrics context, from init to exit */
    int log_level;
    int nprops;
    struct prop *props;
    struct flb_plugin_proxy_context ctx;
    void *old_context;                     /* remote_context before the last reload */
};

static struct instance *ins;
static int nins, global_level = 3;
static struct flbgo_output_plugin plugin;  /* ONE object shared by all instances */
static struct flb_plugin_proxy_def *def;   /* its first def_size bytes exist */
static size_t def_size = sizeof(struct flb_plugin_proxy_def);
static FILE *proto;                        /* protocol stream (the real stdout) */
static int sync_marks;
#define SYNC_MARK "\0kubeship-host-sync\0"

static void answer(const char *fmt, ...)   /* one protocol line */
{
    va_list ap;
    if (sync_marks) {
        fwrite(SYNC_MARK, 1, sizeof(SYNC_MARK) - 1, stderr);
        fflush(stderr);
    }
    va_start(ap, fmt);
    vfprintf(proto, fmt, ap);
    va_end(ap);
    fputc('\n', proto);
    fflush(proto);
}

/* Keys flb_output_set_property consumes itself; the plugin never sees them. */
static const char *core_keys[] = {
    "name", "match", "match_regex", "alias", "log_level", "log_suppress_interval",
    "host", "port", "ipv6", "retry_limit", "workers", "storage.total_limit_size",
    "tls", "tls.verify", "tls.verify_hostname", "tls.debug", "tls.vhost",
    "tls.ca_path", "tls.ca_file", "tls.crt_file", "tls.key_file",
    "tls.key_passwd", "tls.min_version", "tls.max_version", "tls.ciphers", NULL};

static int is_core_key(const char *k)
{
    if (strncasecmp(k, "net.", 4) == 0) return 1;
    for (int i = 0; core_keys[i]; i++)
        if (strcasecmp(core_keys[i], k) == 0) return 1;
    return 0;
}

static int level_from_name(const char *s)  /* flb_log_get_level_str */
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return strcasecmp(s, "warning") == 0 ? 2 : -1;
}

/* flb_output_set_property: apply one instance's raw -k pairs after registration. */
static int set_properties(struct instance *in)
{
    int n = 0;
    for (int i = 0; i < in->nprops; i++) {
        char *k = in->props[i].key, *v = in->props[i].val;
        if (v && !*v) v = NULL;                /* empty values read back as unset */
        if (strcasecmp(k, "alias") == 0) in->alias = v;
        if (strcasecmp(k, "log_level") == 0 && v && (in->log_level = level_from_name(v)) < 0) {
            fprintf(stderr, "[error] [config] invalid log_level '%s' for %s\n", v, in->name);
            return -1;
        }
        if (strcasecmp(k, "tls") == 0 && v && (!strcasecmp(v, "on") || !strcasecmp(v, "true") ||
                                               !strcasecmp(v, "yes") || !strcmp(v, "1"))) {
            /* fluent-bit-go registers flags=0 (no FLB_IO_TLS), so Fluent Bit refuses tls on */
            fprintf(stderr, "[error] [config] %s does not support TLS\n", in->name);
            return -1;
        }
        if (!is_core_key(k)) in->props[n++] = (struct prop){k, v};
    }
    in->nprops = n;
    return 0;
}

/* ---- the flb_api table; the functions Fluent Bit exports keep its names ---- */
const char *flb_output_get_property(const char *key, void *o_ins)
{
    struct instance *in = o_ins;
    if (!key || !*key) return NULL;
    for (int i = 0; i < in->nprops; i++)   /* first match wins, like flb_kv */
        if (strcasecmp(in->props[i].key, key) == 0) return in->props[i].val;
    return NULL;
}
void flb_log_print(int level, const char *file, int line, const char *fmt, ...)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace", "help"};
    va_list ap;
    (void)file; (void)line;
    flockfile(stderr);
    if (level >= 0 && level <= 6) fprintf(stderr, "[%s] ", names[level]);
    else fprintf(stderr, "[%d] ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
}
/* ---- cmetrics: fakes of the functions Fluent Bit exports (lib/cmetrics) ---- */
#define CMT_MAX_METRICS 48
#define CMT_MAX_SERIES 64
#define CMT_MAX_LABELS 8
#define CMT_MAX_BUCKETS 32
enum { CMT_COUNTER, CMT_GAUGE, CMT_HISTOGRAM };
struct fake_series {
    char *vals[CMT_MAX_LABELS];
    double value, sum;                     /* a histogram's sum */
    uint64_t count, buckets[CMT_MAX_BUCKETS + 1];
};
struct fake_metric {
    struct fake_cmt *cmt;
    int type, nkeys, nbounds, nseries;
    char name[256];                        /* <ns>_<subsystem>_<name> */
    char *keys[CMT_MAX_LABELS];
    double bounds[CMT_MAX_BUCKETS];
    struct fake_series series[CMT_MAX_SERIES];
};
struct fake_cmt {                          /* struct cmt */
    int destroyed;
    int busy;                              /* calls in progress */
    int nmetrics;
    struct fake_metric *metrics[CMT_MAX_METRICS];
};
struct fake_buckets { size_t count; double bounds[CMT_MAX_BUCKETS]; };

static pthread_mutex_t cmt_mu = PTHREAD_MUTEX_INITIALIZER;
static int cmt_overlaps, cmt_late, cmt_bad;  /* counted calls (under cmt_mu) */
static int cmt_mode;                         /* -m: 0, 1 off, 2 null */

/* cmt_enter starts a call on c: it counts an overlap with another call on
 * the same context (cmetrics before Fluent Bit 5.1 does not lock), a call on a
 * destroyed context, and takes the lock that keeps the fakes consistent. */
static struct fake_cmt *cmt_enter(struct fake_cmt *c)
{
    int overlap = __atomic_fetch_add(&c->busy, 1, __ATOMIC_SEQ_CST) != 0;
    usleep(20);                            /* widen the window for an overlap */
    pthread_mutex_lock(&cmt_mu);
    cmt_overlaps += overlap;
    if (c->destroyed) {
        cmt_late++;
        fprintf(stderr, "[kubeship-host] cmetrics call on a destroyed context\n");
    }
    return c;
}
static void cmt_leave(struct fake_cmt *c)
{
    pthread_mutex_unlock(&cmt_mu);
    __atomic_fetch_sub(&c->busy, 1, __ATOMIC_SEQ_CST);
}

static struct fake_metric *cmt_new(void *cmt, int type, char *ns, char *sub, char *name,
                                   int n, char **keys)
{
    struct fake_cmt *c = cmt;
    struct fake_metric *m;
    if (!c || n < 0 || n > CMT_MAX_LABELS || c->nmetrics == CMT_MAX_METRICS ||
        !(m = calloc(1, sizeof(*m)))) {
        cmt_bad++;
        return NULL;
    }
    m->cmt = c;
    m->type = type;
    m->nkeys = n;
    if (*sub) snprintf(m->name, sizeof(m->name), "%s_%s_%s", ns, sub, name);
    else snprintf(m->name, sizeof(m->name), "%s_%s", ns, name);
    for (int i = 0; i < n; i++) m->keys[i] = strdup(keys[i]);
    c->metrics[c->nmetrics++] = m;
    return m;
}

/* cmt_series finds or adds the series of vals (cmt_map_metric_get). */
static struct fake_series *cmt_series(struct fake_metric *m, int n, char **vals)
{
    if (!m || n != m->nkeys) {
        cmt_bad++;
        return NULL;
    }
    for (int s = 0; s < m->nseries; s++) {
        int i = 0;
        while (i < n && strcmp(m->series[s].vals[i], vals[i]) == 0) i++;
        if (i == n) return &m->series[s];
    }
    if (m->nseries == CMT_MAX_SERIES) {
        cmt_bad++;
        return NULL;
    }
    struct fake_series *s = &m->series[m->nseries++];
    for (int i = 0; i < n; i++) s->vals[i] = strdup(vals[i]);
    return s;
}

static struct fake_cmt *cmt_create_for(const char *name)  /* flb_output_init_all */
{
    struct fake_cmt *c = calloc(1, sizeof(*c));
    char *keys[] = {"name"}, *vals[] = {(char *)name};
    if (!c) { perror("calloc"); exit(4); }
    pthread_mutex_lock(&cmt_mu);
    cmt_series(cmt_new(c, CMT_COUNTER, "fluentbit", "output", "proc_records_total", 1, keys), 1, vals);
    pthread_mutex_unlock(&cmt_mu);
    return c;
}

void *flb_output_get_cmt_instance(void *o_ins)
{
    return cmt_mode == 2 ? NULL : ((struct instance *)o_ins)->cmt;
}
const char *flb_output_name(void *o_ins)
{
    struct instance *in = o_ins;
    return in->alias ? in->alias : in->name;
}

static void *cmt_create_metric(void *cmt, int type, char *ns, char *sub, char *name, char *help,
                               struct fake_buckets *b, int n, char **keys)
{
    struct fake_cmt *c = cmt;
    struct fake_metric *m;
    (void)help;
    if (!c) { cmt_bad++; return NULL; }
    cmt_enter(c);
    if ((m = cmt_new(c, type, ns, sub, name, n, keys)) && b) {
        m->nbounds = (int)b->count;
        memcpy(m->bounds, b->bounds, b->count * sizeof(double));
    }
    cmt_leave(c);
    return m;
}
void *cmt_counter_create(void *cmt, char *ns, char *sub, char *name, char *help, int n, char **keys)
{
    return cmt_create_metric(cmt, CMT_COUNTER, ns, sub, name, help, NULL, n, keys);
}
void *cmt_gauge_create(void *cmt, char *ns, char *sub, char *name, char *help, int n, char **keys)
{
    return cmt_create_metric(cmt, CMT_GAUGE, ns, sub, name, help, NULL, n, keys);
}
void *cmt_histogram_buckets_create_size(double *bounds, size_t count)
{
    struct fake_buckets *b;
    if (count < 1 || count > CMT_MAX_BUCKETS || !(b = calloc(1, sizeof(*b)))) return NULL;
    b->count = count;
    memcpy(b->bounds, bounds, count * sizeof(double));
    return b;
}
void *cmt_histogram_create(void *cmt, char *ns, char *sub, char *name, char *help, void *buckets,
                           int n, char **keys)
{
    void *m = buckets ? cmt_create_metric(cmt, CMT_HISTOGRAM, ns, sub, name, help, buckets, n, keys) : NULL;
    free(buckets);                          /* the histogram owns them */
    return m;
}

/* cmt_update applies one call to a series: add, set or observe. */
static int cmt_update(void *metric, int type, uint64_t ts, double val, uint64_t *defaults,
                      double sum, uint64_t count, int n, char **vals)
{
    struct fake_metric *m = metric;
    struct fake_series *s;
    (void)ts;
    if (!m) return -1;
    cmt_enter(m->cmt);
    if (m->type != (type == -1 ? CMT_HISTOGRAM : type)) cmt_bad++, s = NULL;
    else s = cmt_series(m, n, vals);
    if (s) {
        switch (type) {
        case CMT_COUNTER: if (val < 0) cmt_bad++; else s->value += val; break;
        case CMT_GAUGE: s->value = val; break;
        case CMT_HISTOGRAM:
            for (int i = 0; i <= m->nbounds; i++)
                if (i == m->nbounds || val <= m->bounds[i]) s->buckets[i]++;
            s->count++;
            s->sum += val;
            break;
        default:                           /* cmt_histogram_set_default */
            memcpy(s->buckets, defaults, (size_t)(m->nbounds + 1) * sizeof(uint64_t));
            s->sum = sum;
            s->count = count;
        }
    }
    cmt_leave(m->cmt);
    return s ? 0 : -1;
}
int cmt_counter_add(void *counter, uint64_t ts, double val, int n, char **vals)
{
    return cmt_update(counter, CMT_COUNTER, ts, val, NULL, 0, 0, n, vals);
}
int cmt_gauge_set(void *gauge, uint64_t ts, double val, int n, char **vals)
{
    return cmt_update(gauge, CMT_GAUGE, ts, val, NULL, 0, 0, n, vals);
}
int cmt_histogram_observe(void *histogram, uint64_t ts, double val, int n, char **vals)
{
    return cmt_update(histogram, CMT_HISTOGRAM, ts, val, NULL, 0, 0, n, vals);
}
int cmt_histogram_set_default(void *histogram, uint64_t ts, uint64_t *defaults, double sum,
                              uint64_t count, int n, char **vals)
{
    return cmt_update(histogram, -1, ts, 0, defaults, sum, count, n, vals);
}

/* cmt_print appends one series line to out as Fluent Bit's prometheus
 * encoder writes it: the le label first, then the metric's. */
static void cmt_print(char **out, size_t *len, const struct fake_metric *m, const char *suffix,
                      const struct fake_series *s, const char *le, double v)
{
    FILE *f = open_memstream(out, len);
    if (!f) { perror("open_memstream"); exit(4); }
    fprintf(f, "%s%s", m->name, suffix);
    if (le || m->nkeys) {
        fputc('{', f);
        if (le) fprintf(f, "le=\"%s\"%s", le, m->nkeys ? "," : "");
        for (int i = 0; i < m->nkeys; i++)
            fprintf(f, "%s%s=\"%s\"", i ? "," : "", m->keys[i], s->vals[i]);
        fputc('}', f);
    }
    fprintf(f, " %.17g\t", v);
    fclose(f);
}

/* "metrics": every live context's series, one tab-separated answer. */
static void cmd_metrics(int nins_live, struct instance *all)
{
    char *text = NULL, *line = NULL;
    size_t tlen = 0, llen = 0;
    FILE *t = open_memstream(&text, &tlen);
    if (!t) { perror("open_memstream"); exit(4); }
    pthread_mutex_lock(&cmt_mu);
    for (int i = 0; i < nins_live; i++) {
        struct fake_cmt *c = all[i].cmt;
        for (int k = 0; c && k < c->nmetrics; k++) {
            struct fake_metric *m = c->metrics[k];
            for (int s = 0; s < m->nseries; s++) {
                struct fake_series *se = &m->series[s];
                if (m->type != CMT_HISTOGRAM) {
                    cmt_print(&line, &llen, m, "", se, NULL, se->value);
                    fputs(line, t);
                    free(line);
                    continue;
                }
                for (int b = 0; b <= m->nbounds; b++) {
                    char le[32];
                    if (b == m->nbounds) snprintf(le, sizeof(le), "+Inf");
                    else snprintf(le, sizeof(le), "%g", m->bounds[b]);
                    cmt_print(&line, &llen, m, "_bucket", se, le, (double)se->buckets[b]);
                    fputs(line, t);
                    free(line);
                }
                cmt_print(&line, &llen, m, "_sum", se, NULL, se->sum);
                fputs(line, t);
                free(line);
                cmt_print(&line, &llen, m, "_count", se, NULL, (double)se->count);
                fputs(line, t);
                free(line);
            }
        }
    }
    fprintf(t, "# kubeship-host overlapping=%d after_destroy=%d bad=%d", cmt_overlaps, cmt_late, cmt_bad);
    pthread_mutex_unlock(&cmt_mu);
    fclose(t);
    answer("metrics %s", text);
    free(text);
}

#ifndef FLB_V1_9
static const char *api_null_property(const char *k, void *i) { (void)k; (void)i; return NULL; }
static void *api_null_cmt(void *i) { (void)i; return NULL; }  /* input_get_cmt_instance */
static int api_input_log_check(void *i, int l) { (void)i; (void)l; return 1; }
int flb_output_log_check(void *o_ins, int l) { return ((struct instance *)o_ins)->log_level >= l; }
static int api_custom_log_check(void *c, int l) { (void)c; (void)l; return 0; }

static const struct flb_api api_template = {
    flb_output_get_property, api_null_property, flb_output_get_cmt_instance, api_null_cmt,
    flb_log_print, api_input_log_check, flb_output_log_check,
    api_null_property, api_custom_log_check};
#define API_SIZE sizeof(struct flb_api)
#else
static const struct flb_api api_template = {.output_get_property = flb_output_get_property};
#define API_SIZE sizeof(void *)            /* 1.9's struct flb_api: one pointer */
#endif

/* guarded returns size bytes that end where an inaccessible page begins. */
static void *guarded(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + page, page, PROT_NONE) != 0) { perror("mmap"); exit(4); }
    return p + page - size;
}

/* ---- flushing ---- */
struct job {
    void *ctx;                              /* the instance's remote_context */
    const char *tag;
    const char *data;
    size_t size;
    pthread_barrier_t *start;
    int rc;
};

static void *flush_job(void *arg)           /* proxy_go_output_flush */
{
    struct job *j = arg;
    char *buf = malloc(j->size ? j->size : 1);
    char *tag = strdup(j->tag);
    if (!buf || !tag) { perror("malloc"); exit(4); }
    memcpy(buf, j->data, j->size);
    if (j->start) pthread_barrier_wait(j->start);
    if (plugin.cb_flush_ctx)
        j->rc = plugin.cb_flush_ctx(j->ctx, buf, j->size, tag);
    else
        j->rc = plugin.cb_flush(buf, j->size, tag);
    memset(buf, 0xAA, j->size);              /* Fluent Bit reuses the chunk memory */
    free(buf);
    free(tag);
    return NULL;
}

static char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc(n ? (size_t)n : 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    *size = buf ? (size_t)n : 0;
    if (f) fclose(f);
    return buf;
}

/* "flush <instance> <tag> <file>" or "flushn <instance> <tag> <file> <n>";
 * the file is the rest of the line (minus n), so paths may contain spaces. */
static void cmd_flush(char *args, int many)
{
    char *inst = strtok(args, " "), *tag = strtok(NULL, " "), *file = strtok(NULL, "");
    char *end, *sp;
    long i, n = 1;
    size_t size;
    if (!inst || !tag || !file) { answer("error usage: flush INSTANCE TAG FILE%s", many ? " N" : ""); return; }
    int old = strncmp(inst, "old.", 4) == 0;  /* old.N: the context instance N had before a reload */
    i = strtol(inst + (old ? 4 : 0), &end, 10);
    if (*end || i < 0 || i >= nins) { answer("error no instance %s", inst); return; }
    if (many) {
        if (!(sp = strrchr(file, ' '))) { answer("error usage: flushn INSTANCE TAG FILE N"); return; }
        *sp = '\0';
        n = strtol(sp + 1, &end, 10);
        if (*end || n < 1 || n > 256) { answer("error bad n %s", sp + 1); return; }
    }
    if (!plugin.cb_flush_ctx && !plugin.cb_flush) { answer("error plugin has no FLBPluginFlush(Ctx)"); return; }
    char *data = read_file(file, &size);
    if (!data) { answer("error cannot read %s", file); return; }

    struct job *jobs = calloc((size_t)n, sizeof(*jobs));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    pthread_barrier_t start;
    if (!jobs || !th) { perror("calloc"); exit(4); }
    if (many) pthread_barrier_init(&start, NULL, (unsigned)n);
    for (long k = 0; k < n; k++) {
        jobs[k] = (struct job){old ? ins[i].old_context : ins[i].ctx.remote_context, tag, data, size, many ? &start : NULL, 0};
        if (!many) flush_job(&jobs[k]);
        else if (pthread_create(&th[k], NULL, flush_job, &jobs[k]) != 0) { perror("pthread_create"); exit(4); }
    }
    char out[16 * 256 + 8] = "flush";
    for (long k = 0; k < n; k++) {
        if (many) pthread_join(th[k], NULL);
        snprintf(out + strlen(out), sizeof(out) - strlen(out), " %d", jobs[k].rc);
    }
    answer("%s", out);
    if (many) pthread_barrier_destroy(&start);
    free(jobs);
    free(th);
    free(data);
}

static void (*pre_exit)(int);

/* flb_output_init_all -> proxy_go_output_init, for every instance. */
static int init_all(void)
{
    for (int i = 0; i < nins; i++) {
        ins[i].ctx.proxy = def;
        ins[i].cmt = cmt_create_for(flb_output_name(&ins[i]));
        plugin.o_ins = &ins[i];
        plugin.context = &ins[i].ctx;
        int rc = plugin.cb_init(&plugin);
        answer("init %d rc=%d", i, rc);
        if (rc <= 0) {
            fprintf(stderr, "[error] [go proxy]: plugin '%s' failed to initialize\n", def->name);
            return -1;
        }
    }
    return 0;
}

/* flb_output_exit, in instance order; returns the last exit callback's rc. */
static int exit_all(void)
{
    int rc = 0;
    for (int i = 0; i < nins; i++) {
        if (pre_exit) pre_exit(0);
        if (plugin.cb_exit_ctx) rc = plugin.cb_exit_ctx(ins[i].ctx.remote_context);
        else if (plugin.cb_exit) rc = plugin.cb_exit();
        pthread_mutex_lock(&cmt_mu);           /* flb_output_instance_destroy: cmt_destroy */
        if (ins[i].cmt) ins[i].cmt->destroyed = 1;  /* kept, to count later calls */
        ins[i].cmt = NULL;
        pthread_mutex_unlock(&cmt_mu);
        ins[i].old_context = ins[i].ctx.remote_context;
        ins[i].ctx.remote_context = NULL;
    }
    return rc;
}

static void *sym(void *dso, const char *name)  /* flb_plugin_proxy_symbol */
{
    dlerror();
    void *s = dlsym(dso, name);
    return dlerror() ? NULL : s;
}

static int usage(void)
{
    fprintf(stderr, "usage: kubeship-host [-a 5.1|4.2] [-m off|null] [-l LEVEL] PLUGIN.so [-i [-k key=value]...]...\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int rc = 0;

    ins = calloc((size_t)argc, sizeof(*ins));   /* at most one instance per arg */
    if (!ins) return 4;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "-l") == 0 && a + 1 < argc) {
            global_level = atoi(argv[++a]);
        } else if (strcmp(argv[a], "-a") == 0 && a + 1 < argc) {
            const char *abi = argv[++a];
            if (strcmp(abi, "4.2") == 0) def_size = DEF_SIZE_4_2;
            else if (strcmp(abi, "5.1") != 0) return usage();
        } else if (strcmp(argv[a], "-m") == 0 && a + 1 < argc) {
            const char *m = argv[++a];
            if (strcmp(m, "off") == 0) cmt_mode = 1;
            else if (strcmp(m, "null") == 0) cmt_mode = 2;
            else return usage();
        } else if (strcmp(argv[a], "-i") == 0) {
            if (!(ins[nins].props = calloc((size_t)argc, sizeof(struct prop)))) return 4;
            ins[nins++].log_level = -1;
        } else if (strcmp(argv[a], "-k") == 0 && a + 1 < argc && nins > 0) {
            struct instance *in = &ins[nins - 1];
            char *kv = argv[++a], *eq = strchr(kv, '=');
            if (!eq || eq == kv) return usage();
            *eq = '\0';
            in->props[in->nprops++] = (struct prop){kv, eq + 1};  /* raw; set_properties() filters */
        } else if (!path && argv[a][0] != '-') {
            path = argv[a];
        } else {
            return usage();
        }
    }
    if (!path) return usage();

    /* Protocol answers go to a private copy of stdout; the plugin's stdout goes to stderr. */
    if (!(proto = fdopen(dup(1), "w")) || dup2(2, 1) < 0) { perror("dup"); return 4; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sync_marks = getenv("KUBESHIP_HOST_SYNC") != NULL;

#ifdef FLB_V1_9
    def_size = DEF_SIZE_1_9;
#endif
    struct flb_api *api = guarded(API_SIZE);
    memcpy(api, &api_template, API_SIZE);
#ifndef FLB_V1_9
    if (cmt_mode == 1)                         /* flb_api_create without FLB_HAVE_METRICS: flb_malloc'd, never set */
        memset(&api->output_get_cmt_instance, 0x5a, sizeof(api->output_get_cmt_instance));
#endif
    def = guarded(def_size);                    /* zero-filled, as Fluent Bit's calloc */

    void *dso = dlopen(path, RTLD_LAZY);
    if (!dso) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }

    int (*pre_register)(int) = (int (*)(int))sym(dso, "FLBPluginPreRegister");
    int (*reg)(struct flb_plugin_proxy_def *) = (int (*)(struct flb_plugin_proxy_def *))sym(dso, "FLBPluginRegister");
    if (pre_register && pre_register(0) == -1) { fprintf(stderr, "FLBPluginPreRegister failed\n"); return 2; }
    if (!reg) { fprintf(stderr, "no FLBPluginRegister symbol\n"); return 2; }
    if (reg(def) == -1 || def->type != 2 || def->proxy != 11) {
        fprintf(stderr, "registration failed: type=%d (want 2) proxy=%d (want 11)\n", def->type, def->proxy);
        return 2;
    }
    answer("registered name=%s description=%s event_type=%d config_map=%s",
           def->name ? def->name : "", def->description ? def->description : "",
           def_size > DEF_SIZE_1_9 ? def->event_type : 0,
           def_size > DEF_SIZE_4_2 ? (def->config_map ? "set" : "none") : "absent");

    plugin.cb_init = (int (*)(struct flbgo_output_plugin *))sym(dso, "FLBPluginInit");
    if (!plugin.cb_init) { fprintf(stderr, "[error] [go proxy]: could not load FLBPluginInit symbol\n"); return 2; }
    plugin.cb_flush = (int (*)(const void *, size_t, const char *))sym(dso, "FLBPluginFlush");
    plugin.cb_flush_ctx = (int (*)(void *, const void *, size_t, char *))sym(dso, "FLBPluginFlushCtx");
    plugin.cb_exit = (int (*)(void))sym(dso, "FLBPluginExit");
    plugin.cb_exit_ctx = (int (*)(void *))sym(dso, "FLBPluginExitCtx");
    plugin.name = def->name;
    pre_exit = (void (*)(int))sym(dso, "FLBPluginOutputPreExit");
    int (*pre_run)(int) = (int (*)(int))sym(dso, "FLBPluginOutputPreRun");
    void (*unreg)(struct flb_plugin_proxy_def *) = (void (*)(struct flb_plugin_proxy_def *))sym(dso, "FLBPluginUnregister");

    for (int i = 0; i < nins; i++) {            /* flb_output_new + flb_output_set_property */
        snprintf(ins[i].name, sizeof(ins[i].name), "%s.%d", def->name ? def->name : "go", i);
        if (set_properties(&ins[i]) != 0) return 3;
        if (ins[i].log_level < 0) ins[i].log_level = global_level;
    }
    plugin.api = api;
    if (init_all() != 0) return 3;
    for (int i = 0; i < nins && pre_run; i++) pre_run(0);   /* flb_output_pre_run */

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (strncmp(line, "flush ", 6) == 0) cmd_flush(line + 6, 0);
        else if (strncmp(line, "flushn ", 7) == 0) cmd_flush(line + 7, 1);
        else if (strcmp(line, "metrics") == 0) cmd_metrics(nins, ins);
        else if (strcmp(line, "exit") == 0) break;
        else if (strcmp(line, "reload") == 0) {   /* flb_reload: exit every instance, init anew */
            answer("reload exit %d", exit_all());
            if (init_all() != 0) return 3;
        }
        else answer("error unknown command: %s", line);
    }
    free(line);

    rc = exit_all();
    if (unreg) unreg(def);                     /* flb_proxy_output_cb_destroy */
    dlclose(dso);
    answer("exit %d", rc);
    return 0;
}
