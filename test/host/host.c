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
 *                           flb_output_log_check, flb_output_exit (exit order)
 *
 * Usage: kubeship-host [-a 5.1|4.2] [-l LEVEL] PLUGIN.so [-i [-k key=value]...]...
 * Then one command per line on stdin (flush, flushn, reload, exit); answers on
 * stdout. reload exits every instance and initialises them anew, as Fluent
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
struct instance {                          /* stands in for flb_output_instance */
    char name[64];
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
#ifndef FLB_V1_9
static const char *api_null_property(const char *k, void *i) { (void)k; (void)i; return NULL; }
static void *api_null_cmt(void *i) { (void)i; return NULL; }
static int api_input_log_check(void *i, int l) { (void)i; (void)l; return 1; }
int flb_output_log_check(void *o_ins, int l) { return ((struct instance *)o_ins)->log_level >= l; }
static int api_custom_log_check(void *c, int l) { (void)c; (void)l; return 0; }

static const struct flb_api api_template = {
    flb_output_get_property, api_null_property, api_null_cmt, api_null_cmt,
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
    fprintf(stderr, "usage: kubeship-host [-a 5.1|4.2] [-l LEVEL] PLUGIN.so [-i [-k key=value]...]...\n");
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
